"""The live queue of attendee self-orders: confirm payment, mark ready, void, cancel.

Refreshed on every order event from the node (SSE) and whenever the screen is shown. "Ready"
is the console's own mark for the pick-up call (the node has no such state yet): it is kept in
this console's memory only.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from appliance.api.schemas import OrderOut
from tui.client import NodeClient, NodeEvent
from tui.errors import ConsoleError
from tui.messages import ActionDone, ActionFailed, Confirmed, OrdersLoaded
from tui.screens.base import ConsoleScreen

PAID_SHOWN = 30


EVIDENCE_MARKS = {"bank": "bank ✓", "unmatched": "UNMATCHED ✗", "unverified": "unverified"}


def status_text(order: OrderOut) -> str:
    """A paid order's status: ready or paid, and for a QR sale what the bank said."""
    status = "READY ✔" if order.ready_at else "paid"
    mark = EVIDENCE_MARKS.get(order.evidence or "")
    return f"{status} · {mark}" if mark else status


def lines_text(order: OrderOut) -> str:
    """'2xPastel, 1xCoffee'."""
    return ", ".join(f"{ln.qty}x{ln.name}" for ln in order.lines)


class OrdersScreen(ConsoleScreen):
    """Waiting and recently paid orders."""

    TITLE = "ORDERS"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "confirm", "Confirm paid", id="orders-confirm"),
        Binding("x", "cancel", "Cancel", id="orders-cancel"),
        Binding("r", "ready", "Ready", id="orders-ready"),
        Binding("v", "void", "Void", id="orders-void"),
        Binding("tab", "app.focus_next", "Switch list", id="orders-switch", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[OrderOut] = []
        self.paid: list[OrderOut] = []

    def compose_body(self) -> ComposeResult:
        with Vertical(id="orders-body"):
            yield Static("Waiting for payment", classes="section")
            waiting: DataTable[str] = DataTable(id="waiting", cursor_type="row")
            yield waiting
            yield Static("Paid (latest first)", classes="section")
            paid: DataTable[str] = DataTable(id="paid", cursor_type="row")
            yield paid

    def on_mount(self) -> None:
        self.query_one("#waiting", DataTable).add_columns("#", "ref", "total", "tender", "items")
        self.query_one("#paid", DataTable).add_columns("#", "ref", "total", "tender", "status")
        self.listen(self.console.node_event, self.order_changed)
        self.listen(self.console.node_returned, lambda _: self.reload())
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def order_changed(self, event: NodeEvent) -> None:
        """Any order changed on the node: fetch the lists again."""
        self.reload()

    def reload(self) -> None:
        """Fetch both lists if a node is attached."""
        if self.console.client is not None and self.console.link.node != "down":
            self.fetch(self.console.client)

    @work(exclusive=True, group="orders", exit_on_error=False)
    async def fetch(self, client: NodeClient) -> None:
        """GET the waiting and paid orders."""
        try:
            waiting = await client.orders("awaiting_payment")
            paid = await client.orders("paid")
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Orders not loaded: {exc}"))
            return
        self.post_message(OrdersLoaded(waiting, paid))

    def on_orders_loaded(self, message: OrdersLoaded) -> None:
        self.waiting = message.waiting
        self.paid = list(reversed(message.paid))[:PAID_SHOWN]
        waiting = self.query_one("#waiting", DataTable)
        waiting.clear()
        for order in self.waiting:
            waiting.add_row(
                str(order.number), order.reference, f"{order.currency} {order.total_text}",
                order.tender or "-", lines_text(order),
            )  # fmt: skip
        paid = self.query_one("#paid", DataTable)
        paid.clear()
        for order in self.paid:
            paid.add_row(
                str(order.number), order.reference, f"{order.currency} {order.total_text}",
                order.tender or "-", status_text(order),
            )  # fmt: skip

    def _selected(self, table_id: str, orders: list[OrderOut]) -> OrderOut | None:
        table = self.query_one(table_id, DataTable)
        if not orders or table.cursor_row < 0 or table.cursor_row >= len(orders):
            self.say("No order selected.", error=True)
            return None
        return orders[table.cursor_row]

    def action_confirm(self) -> None:
        """Confirm payment of the selected waiting order."""
        order = self._selected("#waiting", self.waiting)
        client = self.console.usable_client() if order else None
        if order is not None and client is not None:
            self.act(client, "confirm", order)

    def action_cancel(self) -> None:
        """Cancel the selected waiting order."""
        order = self._selected("#waiting", self.waiting)
        client = self.console.usable_client() if order else None
        if order is not None and client is not None:
            self.act(client, "cancel", order)

    def action_void(self) -> None:
        """Void the selected paid order."""
        order = self._selected("#paid", self.paid)
        client = self.console.usable_client() if order else None
        if order is not None and client is not None:
            self.act(client, "void", order)

    def action_ready(self) -> None:
        """Mark the selected paid order ready for pick-up: every console and the phone see it."""
        order = self._selected("#paid", self.paid)
        client = self.console.usable_client() if order else None
        if order is not None and client is not None:
            self.act(client, "ready", order)

    @work(exclusive=True, group="order-action", exit_on_error=False)
    async def act(self, client: NodeClient, what: str, order: OrderOut) -> None:
        """Confirm, cancel, mark ready or void one order."""
        try:
            if what == "confirm":
                self.post_message(Confirmed(await client.confirm(order.id)))
            elif what == "cancel":
                await client.cancel(order.id)
                self.post_message(ActionDone(f"Order #{order.number} cancelled."))
            elif what == "ready":
                await client.ready(order.id)
                self.post_message(ActionDone(f"Order #{order.number} is ready for pick-up."))
            else:
                receipt = await client.void(order.id)
                done = f"Order #{order.number} voided (receipt #{receipt.seq})."
                self.post_message(ActionDone(done))
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"#{order.number} {what}: {exc}"))
        self.reload()

    def on_confirmed(self, message: Confirmed) -> None:
        answer = message.answer
        if answer.accepted:
            self.say(f"Order #{answer.order.number} paid: {answer.decision.reason}.")
        else:
            self.say(
                f"Order #{answer.order.number} REFUSED: {answer.decision.reason} "
                "(override it from the pay screen).",
                error=True,
            )

    def on_action_failed(self, message: ActionFailed) -> None:
        self.say(message.text, error=True)

    def on_action_done(self, message: ActionDone) -> None:
        self.say(message.text)
