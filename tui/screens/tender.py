"""The tender dialog: cash or a payment rail, one key each, after the cart becomes an order.

The sell screen pushes it with the tenders the node offers and those its offline policy accepts
for this total now; a rail over the limit is still listed, marked, so the vendor can override
it with a reason. Escape closes it with no tender (the sell screen then cancels the order).
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from appliance.api.schemas import OrderOut
from tui.money import money
from tui.screens.base import ConsoleModal


class TenderScreen(ConsoleModal):
    """Pick cash or a rail with one key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Back", id="tender-back"),
    ]

    def __init__(self, order: OrderOut, tenders: list[str], offered: list[str]) -> None:
        super().__init__()
        self.order = order
        self.offered = set(offered)  # what the offline policy accepts for this total now
        self.keys: dict[str, str] = {}
        rails = [t for t in tenders if t != "cash"]
        if "cash" in tenders:
            self.keys["c"] = "cash"
        for index, rail in enumerate(rails[:9], start=1):
            self.keys[str(index)] = rail

    def compose(self) -> ComposeResult:
        with Vertical(id="tender-dialog", classes="dialog"):
            total = money(self.order.total, self.order.currency, self.console.money_locale)
            yield Static(f"Order #{self.order.number} — {total}", classes="dialog-title")
            for key, tender in self.keys.items():
                label = "cash (change due)" if tender == "cash" else f"{tender.upper()} (QR)"
                if tender not in self.offered:  # not shown to the payer unless overridden
                    label += " ✖ over the offline limit: override with a reason first"
                yield Static(f" {key}  {label}", classes="tender-choice")
            yield Static("Esc: back to the cart (the order is cancelled)", classes="hint")

    def on_key(self, event: events.Key) -> None:
        tender = self.keys.get(event.character or "")
        if tender is not None:
            event.stop()
            self.dismiss(tender)

    def action_dismiss_none(self) -> None:
        """Close without a tender."""
        self.dismiss(None)
