"""Taking the payment: a big scannable QR with the amount and reference, then the receipt.

The node's offline policy decides when the tender is chosen, before the payer sees a QR: a
refused rail shows the reason, and the vendor may override it only by typing why (the node
records it); only then is the QR shown. Confirming stands on that decision. A Pix order the
node's bank watch confirms (the provider reported the credit) moves on without a keypress.
Cash shows the change due as the vendor types what was handed over.

A rail's code gets the whole screen when the usual frame leaves it too little room (80x24 has
48 module rows in all): the title, status bar and footer go, the amount, reference and keys
stay beside the code, and the error-correction level is the highest the rail's standard allows
that fits (tui/widgets/qr.py).

The sell screen keeps one pay screen and refills it for each sale (`refill`) rather than
composing a new one with its frame and footer every time: composing and styling ~20 widgets
was most of the console's CPU between the tender key and the QR
(docs/performance/2026-12-05-keystroke-to-qr.md). So a
sale's state is reset in `refill`, and a message from a sale that is over is ignored.
"""

from __future__ import annotations

import asyncio
import sys
from typing import ClassVar

import msgspec
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Digits, Input, Static

from appliance.api.schemas import ConfirmOut, DecisionOut, OrderOut, TenderOut
from tui.client import NodeClient, NodeEvent
from tui.errors import ConsoleError, Refused
from tui.messages import ActionDone, ActionFailed, Confirmed, Tendered, TenderRefused
from tui.money import money, plain
from tui.screens.base import ConsoleScreen
from tui.screens.confirm import YES, ConfirmAction
from tui.screens.receipt import Paid
from tui.widgets.qr import QrCode, fit_lines, node_lines, qr_areas, qr_sides, warm


def parse_minor(text: str) -> int | None:
    """'20', '20.5', '20,50' → minor units; None if it is not an amount."""
    cleaned = text.strip().replace(",", ".")
    whole, _, part = cleaned.partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
        return None
    return int(whole) * 100 + int((part + "00")[:2])


def bank_answer(order: OrderOut) -> ConfirmOut:
    """A confirmation the bank gave (the node's bank watch): paid, bank ✓, no keypress."""
    paid = msgspec.structs.replace(order, state="paid", evidence="bank")
    reason = "bank ✓: the payment provider reported the credit"
    return ConfirmOut(
        True, paid, DecisionOut(order.tender or "", order.total, "accept", reason, "", None), None
    )


class PayScreen(ConsoleScreen):
    """Waiting for the payment of one order."""

    TITLE = "PAY"
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Confirm paid", id="pay-confirm"),
        Binding("o", "override", "Override", id="pay-override"),
        Binding("escape", "cancel", "Cancel order", id="pay-cancel"),
    ]

    def __init__(
        self, order: OrderOut, tender: str, sent: asyncio.Future[TenderOut] | None = None
    ) -> None:
        super().__init__()
        self.order = order
        self.tender = tender
        self.sent = sent  # the tender, already sent as the key was pressed (tui/screens/sell.py)
        self.tendered: TenderOut | None = None  # the node's answer to the tender, once in
        self.refused = False
        self.busy = True  # a request is in flight: keys must not send another
        self.started = False  # the tender is being chosen (shown once per sale)
        self.over = False  # paid or cancelled: a late message of this sale is ignored

    @property
    def cash(self) -> bool:
        """Cash: no QR, a change-due calculator instead."""
        return self.tender == "cash"

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="pay-body"):
            yield QrCode(id="pay-qr")
            with Vertical(id="pay-side"):
                yield Static("", id="pay-what")
                yield Digits("", id="pay-amount")
                yield Static("", id="pay-currency")
                yield Static("REF …", id="pay-reference")
                yield Input(placeholder="cash received, e.g. 20", id="received")
                yield Static("", id="change")
                yield Digits("", id="change-digits")
                yield Static("", id="decision")
                yield Static("Enter: paid · Esc: cancel the order", id="pay-keys")
                yield Input(placeholder="why override? (recorded)", id="override-reason")

    def on_mount(self) -> None:
        self.fill()
        self.listen(self.console.node_event, self.bank_confirmed)

    def refill(
        self, order: OrderOut, tender: str, sent: asyncio.Future[TenderOut] | None = None
    ) -> None:
        """Take the next sale: reset everything the last one left, before being shown again."""
        self.drop_sent()
        self.order, self.tender, self.sent = order, tender, sent
        self.tendered, self.refused, self.busy, self.over = None, False, True, False
        self.started = False
        self.fill()

    def fill(self) -> None:
        """Show this sale's order and tender, and nothing of an earlier one."""
        order, locale, cash = self.order, self.console.money_locale, self.cash
        self.remove_class("whole-screen")
        code = self.query_one("#pay-qr", QrCode)
        code.display = not cash
        code.clear()
        self.query_one("#pay-what", Static).update(f"Order #{order.number} · {self.tender.upper()}")
        self.query_one("#pay-amount", Digits).update(plain(order.total, order.currency, locale))
        self.query_one("#pay-currency", Static).update(order.currency)
        self.query_one("#pay-reference", Static).update("REF …")
        for name in ("#received", "#change", "#change-digits"):
            self.query_one(name).display = cash
        self.query_one("#received", Input).value = ""
        self.query_one("#change", Static).update("")
        self.query_one("#change-digits", Digits).update("")
        decision = self.query_one("#decision", Static)
        decision.update("")
        decision.remove_class("refused")
        reason = self.query_one("#override-reason", Input)
        reason.value = ""
        reason.display = False
        self.set_focus(None)  # a field of the last sale keeps no keys (cash focuses its own)

    def post_message(self, message: Message) -> bool:
        """A kept pay screen shown again is not restyled whole: Textual restyles a pushed
        screen's every node (~20 here, with the footer's keys), but this one was styled when
        mounted, each class change since restyled its nodes, and a theme change restyles every
        screen of the app, shown or not."""
        if isinstance(message, events.ScreenResume) and self.is_mounted:
            message = events.ScreenResume(refresh_styles=False)
        return super().post_message(message)

    def on_screen_resume(self) -> None:
        if self.started:  # back from another screen or a dialog: the sale goes on
            return
        self.started = True
        if self.cash:
            self.query_one("#received", Input).focus()
        client = self.console.usable_client()
        if client is not None:
            self.choose_tender(client)

    def finish(self, result: object) -> None:
        """The sale is over (paid or cancelled): back to the sell screen, which keeps us."""
        self.over = True
        self.drop_sent()
        if isinstance(self.app.screen, ConfirmAction) and self.app.screen_stack[-2] is self:
            self.app.pop_screen()  # "Cancel order …?" is moot: the bank sold it meanwhile
        self.dismiss(result)

    def drop_sent(self) -> None:
        """Forget a tender sent for this sale but never awaited here (hear its end)."""
        sent, self.sent = self.sent, None
        if sent is not None and not sent.cancel():
            sent.exception()

    def on_unmount(self) -> None:
        self.drop_sent()

    def bank_confirmed(self, event: NodeEvent) -> None:
        """The node's bank watch sold this order on the provider's word: on to the receipt."""
        data = event.data
        if event.kind != "order" or data.get("id") != self.order.id or self.cash or self.over:
            return
        if data.get("state") == "paid" and data.get("evidence") == "bank":
            self.post_message(Confirmed(bank_answer(self.order)))

    @work(exclusive=True, group="pay", exit_on_error=False)
    async def choose_tender(self, client: NodeClient, override_reason: str | None = None) -> None:
        """POST the tender while the screen is drawn; build a rail's QR off the event loop."""
        sent, self.sent = self.sent, None
        try:
            if sent is not None and override_reason is None:
                answer = await sent
            else:
                answer = await client.tender(
                    self.order.id,
                    self.tender,
                    operator=self.console.settings.name if override_reason else None,
                    override_reason=override_reason,
                    qr_sides=qr_sides(self.console.size, self.console.qr_blocks, self.tender),
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
        areas = qr_areas(self.app.size)
        blocks = self.console.qr_blocks
        where, qr = -1, tuple[str, ...]()
        if answer.payload:
            drawn = None if answer.qr is None else node_lines(answer.qr, blocks, len(areas))
            if drawn is None:  # an older node, or asked for none: build it here, off the loop
                drawn = await asyncio.to_thread(fit_lines, answer.payload, blocks, areas)
            where, qr = drawn
        self.post_message(Tendered(answer, qr, whole_screen=where != 0))

    def on_tender_refused(self, message: TenderRefused) -> None:
        if self.over:
            return
        self.busy = False
        self.refused = True
        self.query_one("#decision", Static).update(
            f"✖ REFUSED by the offline policy: {message.reason}\n"
            "o: override with a reason · Esc: cancel the order"
        )
        self.query_one("#decision", Static).add_class("refused")

    def on_tendered(self, message: Tendered) -> None:
        if self.over or message.answer.order.id != self.order.id:  # a sale that is over
            return
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
            code = self.query_one("#pay-qr", QrCode)
            stats = self.console.stats
            if stats is not None and stats.stall_url:
                code.elsewhere = (
                    f"scan the customer display, or open {stats.stall_url} on the phone"
                )
            self.set_class(message.whole_screen, "whole-screen")
            code.show(answer.payload, message.qr)
        if "appliance.payments.matrix" not in sys.modules:  # the receipt's code needs it next
            self.call_after_refresh(
                self.run_worker, warm, thread=True, group="warm-qr", exit_on_error=False
            )

    def change_due(self) -> int | None:
        """Cash: what goes back to the attendee (None if nothing valid was typed, or short)."""
        received = self.cash_received()
        return None if received is None else received - self.order.total

    def cash_received(self) -> int | None:
        """Cash: what the attendee handed over, if it was typed and covers the total."""
        if not self.cash:
            return None
        paid = parse_minor(self.query_one("#received", Input).value)
        return None if paid is None or paid < self.order.total else paid

    @on(Input.Changed, "#received")
    def received_changed(self, event: Input.Changed) -> None:
        paid = parse_minor(event.value)
        change = self.query_one("#change", Static)
        digits = self.query_one("#change-digits", Digits)
        currency, locale = self.order.currency, self.console.money_locale
        if paid is None:
            change.update("")
            digits.update("")
        elif paid < self.order.total:
            change.update(f"SHORT {money(self.order.total - paid, currency, locale)}")
            digits.update("")
        else:
            change.update(f"CHANGE DUE {money(paid - self.order.total, currency, locale)}")
            digits.update(plain(paid - self.order.total, currency, locale))

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
                self.order.id,
                operator=self.console.settings.name,
                override_reason=override_reason,
                cash_received=self.cash_received(),
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
        if self.over or message.answer.order.id != self.order.id:  # a sale that is over
            return
        self.busy = False
        answer = message.answer
        if answer.accepted:
            self.finish(Paid(answer, self.change_due()))
            return
        self.refused = True
        self.query_one("#decision", Static).update(
            f"✖ REFUSED by the offline policy: {answer.decision.reason}\n"
            "o: override with a reason · Esc: cancel the order"
        )
        self.query_one("#decision", Static).add_class("refused")

    def action_cancel(self) -> None:
        """Cancel the order and go back to the cart; once a code is shown, ask first."""
        client = self.console.usable_client()
        if client is None or (self.busy and self.tendered is not None):
            return
        if self.tendered is None or self.cash or self.refused:  # nobody was invited to pay
            self.busy = True
            self.cancel(client)
            return
        question = (f"Cancel order #{self.order.number} (REF {self.tendered.reference})? If the "
                    "payer has paid, the money comes in for a cancelled order.")  # fmt: skip
        self.app.push_screen(
            ConfirmAction(question, "x", "cancel", again=False), self._cancel_answered
        )

    def _cancel_answered(self, answer: str | None) -> None:
        client = self.console.usable_client()
        if answer == YES and client is not None and not self.busy and not self.over:
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
        if not self.over:
            self.finish(None)

    def on_action_failed(self, message: ActionFailed) -> None:
        if self.over:
            return
        self.busy = False
        self.say(message.text, error=True)
        if self.tendered is None:  # the tender was refused: back to the cart
            self.action_cancel()
