"""The day's operations on the console: the daily close with its report, and restocking.

F7 opens the close: the open period's report first (nothing signed), Enter signs the close and
shows the report of exactly what it closed (appliance/services/day_close.py). F8 restocks: a
SKU and a count, `+N` (or `N`) adds units, `=N` sets the count found on the shelf.
"""

from __future__ import annotations

import re
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from appliance.domain.close import CloseReport, report_lines
from tui.client import NodeClient
from tui.errors import ConsoleError
from tui.screens.base import ConsoleModal

QTY = re.compile(r"^([+=]?)(\d{1,7})$")


class CloseReported(Message):
    """The node answered with a close report (a preview, or the signed close)."""

    def __init__(self, report: CloseReport) -> None:
        super().__init__()
        self.report = report


class DayActionFailed(Message):
    """A close or restock request failed; the text says why."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class CloseDayScreen(ConsoleModal):
    """The daily close: preview, then Enter signs it; the report either way."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Back", id="close-back"),
        Binding("enter", "sign", "Sign the close", id="close-sign"),
    ]

    def __init__(self, client: NodeClient) -> None:
        super().__init__()
        self.client = client
        self.report: CloseReport | None = None
        self.signing = False

    def compose(self) -> ComposeResult:
        with Vertical(id="close-dialog", classes="dialog"):
            yield Static("Daily close", classes="dialog-title")
            yield Static("Loading the open period…", id="close-report")
            yield Static("Enter: sign the close · Esc: back", id="close-hint", classes="hint")

    def on_mount(self) -> None:
        self.fetch(sign=False)

    @work(exclusive=True, group="close", exit_on_error=False)
    async def fetch(self, sign: bool) -> None:
        """GET (preview) or POST (sign) /api/close."""
        try:
            self.post_message(CloseReported(await self.client.close_report(sign)))
        except ConsoleError as exc:
            self.post_message(DayActionFailed(f"Close failed: {exc}"))

    def on_close_reported(self, message: CloseReported) -> None:
        self.report = message.report
        self.query_one("#close-report", Static).update("\n".join(report_lines(message.report)))
        if message.report.closed:
            self.query_one("#close-hint", Static).update("Closed and signed. Esc: done")

    def on_day_action_failed(self, message: DayActionFailed) -> None:
        self.signing = False
        self.query_one("#close-report", Static).update(message.text)

    def action_sign(self) -> None:
        """Sign the close once the preview is shown (once per opening of this dialog)."""
        if self.report is None or self.report.closed or self.signing:
            return
        self.signing = True
        self.query_one("#close-hint", Static).update("Signing…")
        self.fetch(sign=True)

    def action_dismiss_none(self) -> None:
        """Back to where the vendor was."""
        self.dismiss(None)


def parse_qty(text: str) -> tuple[str, int] | None:
    """'+12' or '12' → ("add", 12); '=5' → ("set", 5); None when it is no count."""
    match = QTY.fullmatch(text.strip())
    if match is None:
        return None
    return ("set" if match[1] == "=" else "add"), int(match[2])


class RestockScreen(ConsoleModal):
    """Restock one item: its SKU, then +N to add or =N to set."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Back", id="restock-back"),
    ]

    def __init__(self, client: NodeClient, operator: str) -> None:
        super().__init__()
        self.client = client
        self.operator = operator

    def compose(self) -> ComposeResult:
        with Vertical(id="restock-dialog", classes="dialog"):
            yield Static("Restock", classes="dialog-title")
            yield Input(placeholder="SKU, e.g. pastel", id="restock-sku")
            yield Input(placeholder="+N adds, =N sets the count", id="restock-qty")
            yield Static("Enter: save · Esc: back", id="restock-result", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "restock-sku":
            self.query_one("#restock-qty", Input).focus()
            return
        sku = self.query_one("#restock-sku", Input).value.strip()
        qty = parse_qty(self.query_one("#restock-qty", Input).value)
        if not sku or qty is None:
            self.query_one("#restock-result", Static).update("Give a SKU and +N or =N.")
            return
        self.save(sku, *qty)

    @work(exclusive=True, group="restock", exit_on_error=False)
    async def save(self, sku: str, mode: str, qty: int) -> None:
        """POST the restock; say what the stock is now."""
        result = self.query_one("#restock-result", Static)
        try:
            item = await self.client.restock(sku, qty, mode, self.operator)
        except ConsoleError as exc:
            result.update(f"Not restocked: {exc}")
            return
        result.update(f"{item.name}: stock now {item.stock}. Esc: done")
        self.query_one("#restock-qty", Input).value = ""

    def action_dismiss_none(self) -> None:
        """Back to where the vendor was."""
        self.dismiss(None)
