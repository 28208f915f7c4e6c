"""Taking the payment: a big scannable QR with the amount and reference, then the receipt.

The node's offline policy decides when the tender is chosen, before the payer sees a QR: a
refused rail shows the reason, and the vendor may override it only by typing why (the node
records it); only then is the QR shown. Confirming stands on that decision.
Cash shows the change due as the vendor types what was handed over.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Input, Static

from appliance.api.schemas import ConfirmOut, DecisionOut, OrderOut, TenderOut
from tui.client import NodeClient
from tui.errors import ConsoleError, Refused
from tui.messages import ActionDone, ActionFailed, Confirmed, Tendered, TenderRefused
from tui.screens.base import ConsoleScreen
from tui.widgets.qr import QrCode, qr_lines


def amount_text(minor: int) -> str:
    """Minor units as the Digits widget shows them: 1850 → '18.50'."""
    return f"{minor // 100}.{minor % 100:02d}"


def parse_minor(text: str) -> int | None:
    """'20', '20.5', '20,50' → minor units; None if it is not an amount."""
    cleaned = text.strip().replace(",", ".")
    whole, _, part = cleaned.partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
        return None
    return int(whole) * 100 + int((part + "00")[:2])


class PayScreen(ConsoleScreen):
    """Waiting for the payment of one order."""

    TITLE = "PAY"
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Confirm paid", id="pay-confirm"),
        Binding("o", "override", "Override", id="pay-override"),
        Binding("escape", "cancel", "Cancel order", id="pay-cancel"),
    ]

    def __init__(self, order: OrderOut, tender: str) -> None:
        super().__init__()
        self.order = order
        self.tender = tender
        self.tendered: TenderOut | None = None  # the node's answer to the tender, once in
        self.refused = False
        self.busy = True  # a request is in flight: keys must not send another

    @property
    def cash(self) -> bool:
        """Cash: no QR, a change-due calculator instead."""
        return self.tender == "cash"

    def compose_body(self) -> ComposeResult:
        order = self.order
        with Horizontal(id="pay-body"):
            if not self.cash:
                yield QrCode(id="pay-qr")
            with Vertical(id="pay-side"):
                yield Static(f"Order #{order.number} · {self.tender.upper()}", id="pay-what")
                yield Digits(amount_text(order.total), id="pay-amount")
                yield Static(f"{order.currency}", id="pay-currency")
                yield Static("REF …", id="pay-reference")
                if self.cash:
                    yield Input(placeholder="cash received, e.g. 20", id="received")
                    yield Static("", id="change")
                yield Static("", id="decision")
                yield Input(placeholder="why override? (recorded)", id="override-reason")

    def on_mount(self) -> None:
        self.query_one("#override-reason", Input).display = False
        if self.cash:
            self.query_one("#received", Input).focus()
        client = self.console.usable_client()
        if client is not None:
            self.choose_tender(client)

    @work(exclusive=True, group="pay", exit_on_error=False)
    async def choose_tender(self, client: NodeClient, override_reason: str | None = None) -> None:
        """POST the tender while the screen is drawn; build a rail's QR off the event loop."""
        try:
            answer = await client.tender(
                self.order.id,
                self.tender,
                operator=self.console.settings.name if override_reason else None,
                override_reason=override_reason,
            )
        except Refused as exc:
            if exc.status == 409 and exc.field == "tender":
                self.post_message(TenderRefused(exc.error))
            else:
                self.post_message(ActionFailed(f"Tender refused: {exc}"))
            return
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Tender refused: {exc}"))
            return
        blocks = self.console.qr_blocks
        qr = await asyncio.to_thread(qr_lines, answer.payload, blocks) if answer.payload else ()
        self.post_message(Tendered(answer, qr))

    def on_tender_refused(self, message: TenderRefused) -> None:
        self.busy = False
        self.refused = True
        self.query_one("#decision", Static).update(
            f"✖ REFUSED by the offline policy: {message.reason}\n"
            "o: override with a reason · Esc: cancel the order"
        )
        self.query_one("#decision", Static).add_class("refused")

    def on_tendered(self, message: Tendered) -> None:
        self.busy = False
        if self.refused:  # overridden at tender: the decision is on the record
            self.refused = False
            self.query_one("#override-reason", Input).display = False
            self.query_one("#decision", Static).update("override recorded")
            self.query_one("#decision", Static).remove_class("refused")
        self.tendered = answer = message.answer
        self.order = answer.order
        self.query_one("#pay-reference", Static).update(f"REF {answer.reference}")
        if answer.payload:
            self.query_one("#pay-qr", QrCode).show(answer.payload, message.qr)

    @on(Input.Changed, "#received")
    def received_changed(self, event: Input.Changed) -> None:
        paid = parse_minor(event.value)
        change = self.query_one("#change", Static)
        if paid is None:
            change.update("")
        elif paid < self.order.total:
            change.update(f"SHORT {self.order.currency} {amount_text(self.order.total - paid)}")
        else:
            change.update(
                f"CHANGE DUE {self.order.currency} {amount_text(paid - self.order.total)}"
            )

    @on(Input.Submitted, "#received")
    def received_submitted(self) -> None:
        self.action_confirm()

    @on(Input.Submitted, "#override-reason")
    def override_submitted(self, event: Input.Submitted) -> None:
        reason = event.value.strip()
        if not reason:
            self.say("An override needs a reason.", error=True)
            return
        client = self.console.usable_client()
        if client is not None and not self.busy:
            self.busy = True
            if self.tendered is None:  # refused at tender: choose it again, overridden
                self.choose_tender(client, reason)
            else:
                self.confirm(client, reason)

    def action_confirm(self) -> None:
        """Ask the node to confirm the payment."""
        if self.busy or self.tendered is None:
            return
        if self.refused:
            self.say("Refused by the policy: press o to override with a reason, Esc to cancel.")
            return
        client = self.console.usable_client()
        if client is not None:
            self.busy = True
            self.confirm(client, None)

    def action_override(self) -> None:
        """After a refusal: type the reason for accepting anyway."""
        if not self.refused:
            return
        field = self.query_one("#override-reason", Input)
        field.display = True
        field.focus()

    @work(exclusive=True, group="pay", exit_on_error=False)
    async def confirm(self, client: NodeClient, override_reason: str | None) -> None:
        """POST confirm."""
        try:
            answer = await client.confirm(
                self.order.id, operator=self.console.settings.name, override_reason=override_reason
            )
        except Refused as exc:
            if exc.status == 409 and (earlier := await self._paid_earlier(client)) is not None:
                self.post_message(Confirmed(earlier))
            else:
                self.post_message(ActionFailed(f"Not confirmed: {exc}"))
            return
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Not confirmed: {exc}"))
            return
        self.post_message(Confirmed(answer))

    async def _paid_earlier(self, client: NodeClient) -> ConfirmOut | None:
        """After a 409: did an earlier confirmation go through while its answer was lost?"""
        try:
            order = await client.order(self.order.id)
        except ConsoleError:
            return None
        if order.state != "paid":
            return None
        reason = "confirmed earlier: the node's answer was lost on the way"
        decision = DecisionOut(order.tender or "cash", order.total, "accept", reason, "", None)
        return ConfirmOut(True, order, decision, None)

    def on_confirmed(self, message: Confirmed) -> None:
        self.busy = False
        answer = message.answer
        if answer.accepted:
            self.dismiss(answer)
            return
        self.refused = True
        self.query_one("#decision", Static).update(
            f"✖ REFUSED by the offline policy: {answer.decision.reason}\n"
            "o: override with a reason · Esc: cancel the order"
        )
        self.query_one("#decision", Static).add_class("refused")

    def action_cancel(self) -> None:
        """Cancel the order and go back to the cart."""
        client = self.console.usable_client()
        if client is not None and (not self.busy or self.tendered is None):
            self.busy = True
            self.cancel(client)

    @work(exclusive=True, group="pay", exit_on_error=False)
    async def cancel(self, client: NodeClient) -> None:
        """POST cancel."""
        try:
            await client.cancel(self.order.id)
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Not cancelled: {exc}"))
            return
        self.post_message(ActionDone(f"Order #{self.order.number} cancelled."))

    def on_action_done(self, message: ActionDone) -> None:
        # Dismissed here, not in the worker: a worker that removes its own screen is never
        # reaped and keeps the whole screen alive.
        self.dismiss(None)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.busy = False
        self.say(message.text, error=True)
        if self.tendered is None:  # the tender was refused: back to the cart
            self.action_cancel()


class ReceiptScreen(ConsoleScreen):
    """The sale is done: the receipt QR the attendee can photograph."""

    TITLE = "RECEIPT"
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "next_sale", "Next sale", id="receipt-next"),
        Binding("escape", "next_sale", "Next sale", id="receipt-close", show=False),
        Binding("p", "reprint", "Reprint", id="receipt-reprint", show=False),
    ]

    def __init__(self, answer: ConfirmOut) -> None:
        super().__init__()
        self.answer = answer

    def compose_body(self) -> ComposeResult:
        answer = self.answer
        order = answer.order
        seq = answer.receipt.seq if answer.receipt else "?"
        with Horizontal(id="receipt-body"):
            yield QrCode(id="receipt-qr")
            with Vertical(id="receipt-side"):
                yield Static("✔ PAID", id="receipt-paid")
                yield Static(
                    f"Order #{order.number} · {order.currency} {order.total_text}\n"
                    f"{(order.tender or 'cash').upper()} · receipt #{seq}\n"
                    f"{answer.decision.verdict}: {answer.decision.reason}",
                    id="receipt-what",
                )
                if answer.receipt is not None:
                    yield Static("The attendee can photograph the receipt code.", classes="hint")
                else:
                    yield Static("The receipt is on the node (Orders, F3).", classes="hint")

    async def on_mount(self) -> None:
        if self.answer.receipt is not None:
            line = self.answer.receipt.line
            lines = await asyncio.to_thread(qr_lines, line, self.console.qr_blocks)
            self.query_one("#receipt-qr", QrCode).show(line, lines)

    def action_reprint(self) -> None:
        """Print the receipt again (the node queues it; tui/display.py)."""
        self.console.reprint(self.answer.order.id)

    def action_next_sale(self) -> None:
        """Back to the catalogue."""
        self.dismiss(None)
