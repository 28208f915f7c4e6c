"""The live queue of attendee self-orders: confirm payment, mark ready, void, cancel.

Refreshed on every order event from the node (SSE) and whenever the screen is shown. Only the
focused list has a marked row (▶, and the cursor colour): keys act on that row and no other, and
a key meant for the other list says so instead of acting. Void and cancel name the order and ask
once (ConfirmAction); "ready" waits `ready_undo_s` before it is sent, so `u` can take it back.
`/` searches by reference (or number); Enter on the search marks the first match in its list,
where `c` confirms it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from appliance.api.schemas import OrderOut
from tui.client import NodeClient, NodeEvent
from tui.errors import ConsoleError
from tui.messages import ActionDone, ActionFailed, Confirmed, OrdersLoaded
from tui.money import money
from tui.screens.base import ConsoleScreen
from tui.screens.confirm import YES, ConfirmAction

PAID_SHOWN = 30
MARK = "▶"
NOTE_MARK = "✎"

EVIDENCE_MARKS = {"bank": "bank ✓", "unmatched": "UNMATCHED ✗", "unverified": "unverified"}


def status_text(order: OrderOut, pending_ready: bool = False) -> str:
    """A paid order's status: ready or paid, and for a QR sale what the bank said."""
    status = "READY ✔" if order.ready_at else "paid"
    if pending_ready and not order.ready_at:
        status = "READY… u: undo"
    mark = EVIDENCE_MARKS.get(order.evidence or "")
    return f"{status} · {mark}" if mark else status


def lines_text(order: OrderOut) -> str:
    """'2xPastel, 1xCoffee', with ✎ first when the attendee left a note."""
    items = ", ".join(f"{ln.qty}x{ln.name}" for ln in order.lines)
    return f"{NOTE_MARK} {items}" if order.note else items


def age_text(created_at: str, now: datetime) -> str:
    """How long ago an order was placed: '45s', '12m', '2h05'."""
    try:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    seconds = max(0, int((now - created).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


def matches(order: OrderOut, text: str) -> bool:
    """Does the order's reference (or number) contain what was typed?"""
    wanted = text.strip().upper().lstrip("#")
    return not wanted or wanted in order.reference.upper() or wanted == str(order.number)


class OrdersScreen(ConsoleScreen):
    """Waiting and recently paid orders."""

    TITLE = "ORDERS"
    AUTO_FOCUS = "#waiting"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "confirm", "Confirm paid", id="orders-confirm"),
        Binding("x", "cancel", "Cancel", id="orders-cancel"),
        Binding("r", "ready", "Ready", id="orders-ready"),
        Binding("u", "undo_ready", "Undo ready", id="orders-undo"),
        Binding("v", "void", "Void", id="orders-void"),
        Binding("slash", "search", "Find ref", id="orders-search"),
        Binding("escape", "clear_search", "Clear search", id="orders-clear", show=False),
        Binding("tab", "app.focus_next", "Switch list", id="orders-switch", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.all_waiting: list[OrderOut] = []
        self.all_paid: list[OrderOut] = []
        self.waiting: list[OrderOut] = []  # as shown (the search applied)
        self.paid: list[OrderOut] = []
        self.search = ""
        self.pending_ready: dict[str, Timer] = {}  # order id → the timer that sends "ready"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="orders-body"):
            search = Input(placeholder="reference or number, Enter marks it", id="order-search")
            search.display = False
            yield search
            yield Static("Waiting for payment", classes="section", id="waiting-title")
            waiting: DataTable[str] = DataTable(id="waiting", cursor_type="row")
            yield waiting
            yield Static("Paid (latest first)", classes="section", id="paid-title")
            paid: DataTable[str] = DataTable(id="paid", cursor_type="row")
            yield paid
            yield Static("", id="order-detail")

    def on_mount(self) -> None:
        waiting = self.query_one("#waiting", DataTable)
        waiting.add_column(" ", key="mark", width=1)
        waiting.add_columns("#", "ref", "age", "total", "items")
        paid = self.query_one("#paid", DataTable)
        paid.add_column(" ", key="mark", width=1)
        paid.add_columns("#", "ref", "age", "total", "tender", "status")
        self.listen(self.console.node_event, self.order_changed)
        self.listen(self.console.node_returned, lambda _: self.reload())
        self.set_interval(15.0, self.show_orders)  # ages move on
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
        self.all_waiting = message.waiting
        self.all_paid = list(reversed(message.paid))[:PAID_SHOWN]
        self.show_orders()

    def money(self, order: OrderOut) -> str:
        """The order's total as the stall writes it."""
        return money(order.total, order.currency, self.console.money_locale)

    def show_orders(self) -> None:
        """Fill both lists (the search applied), keeping each list's marked order if it is there."""
        now = datetime.now(UTC)
        self.waiting = [o for o in self.all_waiting if matches(o, self.search)]
        self.paid = [o for o in self.all_paid if matches(o, self.search)]
        rows: dict[str, list[tuple[str, ...]]] = {
            "#waiting": [
                (" ", str(o.number), o.reference, age_text(o.created_at, now), self.money(o),
                 lines_text(o))
                for o in self.waiting
            ],
            "#paid": [
                (" ", str(o.number), o.reference, age_text(o.created_at, now), self.money(o),
                 o.tender or "-", status_text(o, o.id in self.pending_ready))
                for o in self.paid
            ],
        }  # fmt: skip
        for table_id, orders in (("#waiting", self.waiting), ("#paid", self.paid)):
            table = self.query_one(table_id, DataTable)
            before = self._at_cursor(table)
            table.clear()
            for order, row in zip(orders, rows[table_id], strict=True):
                table.add_row(*row, key=order.id)
            ids = [o.id for o in orders]
            if before in ids:
                table.move_cursor(row=ids.index(before), animate=False)
        self._focus_a_list_with_orders()
        self.mark()

    def _at_cursor(self, table: DataTable[str]) -> str | None:
        orders = self.waiting if table.id == "waiting" else self.paid
        row = table.cursor_row
        return orders[row].id if 0 <= row < len(orders) and table.row_count else None

    def _focus_a_list_with_orders(self) -> None:
        """An empty focused list while the other has orders: go to the one the vendor can use."""
        focused = self.focused
        if not isinstance(focused, DataTable) or focused.row_count:
            return
        other = self.query_one("#paid" if focused.id == "waiting" else "#waiting", DataTable)
        if other.row_count:
            other.focus()

    def mark(self) -> None:
        """▶ on the focused list's cursor row, nothing elsewhere; the detail line below."""
        focused = self.focused
        for table in self.query(DataTable):
            active = table is focused
            table.show_cursor = active
            for row in range(table.row_count):
                want = MARK if active and row == table.cursor_row else " "
                if table.get_cell_at(Coordinate(row, 0)) != want:
                    table.update_cell_at(Coordinate(row, 0), want)
        order = self._marked()
        detail = ""
        if order is not None:
            items = ", ".join(f"{ln.qty}x{ln.name}" for ln in order.lines)
            detail = f"#{order.number} REF {order.reference} · {items}"
            if order.note:
                detail += f"\nNote: {order.note}"
        # The note is the attendee's own text: shown as typed, never parsed as markup (a stray
        # "[/x]" raised MarkupError and "[@click=...]" made a console action).
        self.query_one("#order-detail", Static).update(Content(detail))

    def _marked(self) -> OrderOut | None:
        focused = self.focused
        if not isinstance(focused, DataTable):
            return None
        orders = self.waiting if focused.id == "waiting" else self.paid
        row = focused.cursor_row
        return orders[row] if focused.row_count and 0 <= row < len(orders) else None

    @on(DataTable.RowHighlighted)
    def row_moved(self) -> None:
        self.mark()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.mark()

    def _selected(self, table_id: str, verb: str) -> OrderOut | None:
        """The marked order of `table_id`, if that list has the focus; else say what to do."""
        focused = self.focused
        name = "Waiting" if table_id == "#waiting" else "Paid"
        if not isinstance(focused, DataTable) or f"#{focused.id}" != table_id:
            self.say(f"{verb} acts on the {name} list: Tab to it.", error=True)
            return None
        order = self._marked()
        if order is None:
            self.say(f"No order marked in the {name} list.", error=True)
        return order

    def action_confirm(self) -> None:
        """Confirm payment of the marked waiting order."""
        order = self._selected("#waiting", "c")
        client = self.console.usable_client() if order else None
        if order is not None and client is not None:
            self.act(client, "confirm", order)

    def action_cancel(self) -> None:
        """Cancel the marked waiting order, after asking."""
        order = self._selected("#waiting", "x")
        if order is not None:
            self.ask(order, "cancel", "x")

    def action_void(self) -> None:
        """Void the marked paid order, after asking."""
        order = self._selected("#paid", "v")
        if order is not None:
            self.ask(order, "void", "v")

    def ask(self, order: OrderOut, what: str, key: str) -> None:
        """Name the order and ask once; act only on yes."""
        items = ", ".join(f"{ln.qty}x{ln.name}" for ln in order.lines)
        question = (
            f"{what.upper()} order #{order.number} · REF {order.reference} · "
            f"{self.money(order)}\n{items}"
        )

        def answered(answer: str | None) -> None:
            client = self.console.usable_client() if answer == YES else None
            if client is not None:
                self.act(client, what, order)

        self.app.push_screen(ConfirmAction(question, key, what), answered)

    def action_ready(self) -> None:
        """Mark the marked paid order ready, sent after a short wait that `u` can undo."""
        order = self._selected("#paid", "r")
        if order is None or order.ready_at or order.id in self.pending_ready:
            return
        delay = self.console.settings.ready_undo_s
        self.pending_ready[order.id] = self.set_timer(delay, lambda: self.send_ready(order))
        self.say(f"Order #{order.number} READY in {delay:.0f} s — u to undo.")
        self.show_orders()

    def action_undo_ready(self) -> None:
        """Take back the last "ready" not yet sent."""
        if not self.pending_ready:
            self.say("Nothing to undo (ready is sent after a few seconds).", error=True)
            return
        order_id, timer = self.pending_ready.popitem()
        timer.stop()
        number = next((o.number for o in self.all_paid if o.id == order_id), "?")
        self.say(f"Order #{number}: ready undone.")
        self.show_orders()

    def send_ready(self, order: OrderOut) -> None:
        """The undo time is over: tell the node (every console and the phone see it)."""
        self.pending_ready.pop(order.id, None)
        client = self.console.usable_client()
        if client is not None:
            self.act(client, "ready", order)

    def action_search(self) -> None:
        """Find an order by reference."""
        field = self.query_one("#order-search", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#order-search")
    def search_changed(self, event: Input.Changed) -> None:
        self.search = event.value
        self.show_orders()

    @on(Input.Submitted, "#order-search")
    def search_submitted(self) -> None:
        """Mark the first match: a waiting one first (to confirm it), else a paid one."""
        for table_id in ("#waiting", "#paid"):
            table = self.query_one(table_id, DataTable)
            if table.row_count:
                table.focus()
                table.move_cursor(row=0, animate=False)
                self.mark()
                return
        self.say(f"No order with reference {self.search.strip().upper()!r}.", error=True)

    def action_clear_search(self) -> None:
        """Show every order again."""
        field = self.query_one("#order-search", Input)
        field.value = ""
        field.display = False
        self.search = ""
        self.query_one("#waiting", DataTable).focus()
        self.show_orders()

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
