"""The sale is done: the receipt, the change due in large digits, and the receipt's own QR code
when the screen can show it whole.

A sale that issued passes (a pass product, tendered at the console) hands them over: the
node's issued passes are fetched and shown full screen over the receipt
(tui/screens/pass_handover.py); `h` shows them again.

The hint under the receipt never promises a code the screen does not show: if the signed
receipt line's code does not fit (it needs about 69x35 cells, more than 80x24), it says where
the receipt is instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Static

from appliance.api.pass_schemas import IssuedPassOut
from appliance.api.schemas import ConfirmOut
from tui.errors import ConsoleError
from tui.money import money, plain
from tui.screens.base import ConsoleScreen
from tui.screens.pass_handover import PassHandoverScreen
from tui.widgets.qr import QrCode, qr_lines

PHOTOGRAPH = "The attendee can photograph the receipt code to verify it."
NO_ROOM = "Receipt signed and kept on the node (its code needs a larger window to show here)."
ON_NODE = "The receipt is on the node (Orders, F3)."


@dataclass(frozen=True, slots=True)
class Paid:
    """What the pay screen ends with: the node's answer and, for cash, the change due."""

    answer: ConfirmOut
    change: int | None = None


class ReceiptScreen(ConsoleScreen):
    """The sale is done: change due, receipt number, and the receipt QR if it fits."""

    TITLE = "RECEIPT"
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "next_sale", "Next sale", id="receipt-next"),
        Binding("escape", "next_sale", "Next sale", id="receipt-close", show=False),
        Binding("p", "reprint", "Reprint", id="receipt-reprint", show=False),
        Binding("h", "hand_over", "Show passes", id="receipt-passes", show=False),
    ]

    def __init__(self, answer: ConfirmOut, change: int | None = None) -> None:
        super().__init__()
        self.answer = answer
        self.change = change
        self.passes: list[IssuedPassOut] = []  # what the sale issued, once the node said

    def compose_body(self) -> ComposeResult:
        answer = self.answer
        order = answer.order
        locale = self.console.money_locale
        seq = answer.receipt.seq if answer.receipt else "?"
        with Horizontal(id="receipt-body"):
            yield QrCode(id="receipt-qr")
            with Vertical(id="receipt-side"):
                paid = "✔ PAID · bank ✓" if order.evidence == "bank" else "✔ PAID"
                yield Static(paid, id="receipt-paid")
                if self.change is not None:
                    yield Static(
                        f"CHANGE DUE {money(self.change, order.currency, locale)}",
                        id="receipt-change",
                    )
                    yield Digits(
                        plain(self.change, order.currency, locale), id="receipt-change-digits"
                    )
                yield Static(
                    f"Order #{order.number} · {money(order.total, order.currency, locale)}\n"
                    f"{(order.tender or 'cash').upper()} · receipt #{seq}\n"
                    f"{answer.decision.verdict}: {answer.decision.reason}",
                    id="receipt-what",
                )
                yield Static(
                    ON_NODE if answer.receipt is None else "", classes="hint", id="receipt-hint"
                )

    async def on_mount(self) -> None:
        if self.answer.accepted:
            self.fetch_passes()
        if self.answer.receipt is not None:
            line = self.answer.receipt.line
            lines = await asyncio.to_thread(qr_lines, line, self.console.qr_blocks)
            self.query_one("#receipt-qr", QrCode).show(line, lines)
            self.call_after_refresh(self.hint)

    def on_resize(self) -> None:
        self.call_after_refresh(self.hint)

    def hint(self) -> None:
        """Promise the code only if it is on the screen, whole."""
        if self.answer.receipt is None or not self.is_attached:
            return
        code = self.query_one("#receipt-qr", QrCode)
        shown = code.fits
        code.display = shown
        self.query_one("#receipt-hint", Static).update(PHOTOGRAPH if shown else NO_ROOM)

    @work(exclusive=True, group="receipt-passes", exit_on_error=False)
    async def fetch_passes(self) -> None:
        """Ask the node which passes the sale issued; hand them over if there are any."""
        client = self.console.client
        if client is None:
            return
        try:
            self.passes = await client.order_passes(self.answer.order.id)
        except ConsoleError as exc:
            self.notify(f"The sale's passes could not be fetched (h: try again): {exc}")
            return
        if self.passes:
            self.action_hand_over()

    def action_hand_over(self) -> None:
        """Show the sale's passes full screen, for the buyer to scan (fetch them if need be)."""
        if not self.passes:
            self.fetch_passes()
            return
        order = self.answer.order
        stats = self.console.stats
        page = f"{stats.stall_url.rstrip('/')}/o/{order.id}" if stats and stats.stall_url else ""
        elsewhere = (
            f"the buyer opens {page} on the phone: the pass is there"
            if page
            else "the pass is on the order's receipt page on the stall's Wi-Fi"
        )
        self.app.push_screen(
            PassHandoverScreen(self.passes, order.number, self.console.qr_blocks, elsewhere)
        )

    def action_reprint(self) -> None:
        """Print the receipt again (the node queues it; tui/display.py)."""
        self.console.reprint(self.answer.order.id)

    def action_next_sale(self) -> None:
        """Back to the catalogue."""
        self.dismiss(None)
