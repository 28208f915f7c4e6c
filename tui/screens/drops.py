"""Drops: schedule and arm one, watch its countdown, its claims and the units left.

A drop is armed as soon as it is scheduled (the node pre-renders its page and codes); the
screen counts down to the start on the console's clock and polls the node for claims while it
is shown. The item is picked from the menu (never typed as a sku); start times are shown in the
stall's time zone (the node's `[stall] timezone`, else this console's own); a field the node or
the form refuses says which rule it broke, in words, right below the field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Select, Static

from appliance.api.schemas import DropOut
from tui.client import NodeClient, NodeEvent
from tui.errors import ConsoleError, Refused
from tui.messages import ActionDone, ActionFailed, CatalogLoaded, DropsLoaded
from tui.screens.base import ConsoleScreen

POLL_EVERY_TICKS = 2
MAX_UNITS = 100_000
RULES = {  # the node's field name → the form field and its rule, in words
    "sku": ("#drop-item", "Item: pick one from the menu list."),
    "quantity": ("#drop-quantity", f"Units: a whole number from 1 to {MAX_UNITS}."),
    "starts_at": ("#drop-minutes", "Starts in: whole minutes from now, 0 for now."),
}


def local_time(starts_at: str, zone: tzinfo | None = None) -> str:
    """A start time in the stall's zone (None: this console's): '18:09', with the date if not today."""
    try:
        starts = datetime.fromisoformat(starts_at).astimezone(zone)
    except ValueError:
        return starts_at
    now = datetime.now(UTC).astimezone(zone)
    clock = starts.strftime("%H:%M")
    return clock if starts.date() == now.date() else f"{starts:%d %b} {clock}"


def countdown(starts_at: str, now: datetime) -> str:
    """'in 04:59', 'in 2h05m' or 'OPEN'."""
    try:
        starts = datetime.fromisoformat(starts_at)
    except ValueError:
        return starts_at
    left = int((starts - now).total_seconds())
    if left <= 0:
        return "OPEN"
    if left >= 3600:
        return f"in {left // 3600}h{left % 3600 // 60:02d}m"
    return f"in {left // 60:02d}:{left % 60:02d}"


def claims_text(drop: DropOut) -> str:
    """'12 claimed · 38/50 left' or SOLD OUT."""
    claimed = drop.quantity - drop.left
    left = "SOLD OUT" if drop.left <= 0 else f"{drop.left}/{drop.quantity} left"
    return f"{claimed} claimed · {left}"


class DropsScreen(ConsoleScreen):
    """The drops of this stall."""

    TITLE = "DROPS"
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New drop", id="drops-new"),
        Binding("escape", "leave_form", "Leave form", id="drops-leave", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.drops: list[DropOut] = []
        self.ticks = 0

    def compose_body(self) -> ComposeResult:
        with Vertical(id="drops-body"):
            table: DataTable[str] = DataTable(id="drops", cursor_type="row")
            table.can_focus = False
            yield table
            yield Static(
                "New drop (n): item, units, starts in minutes — Enter arms it", classes="section"
            )
            with Horizontal(id="drop-form"):
                with Vertical(classes="field"):
                    yield Select[str]([], prompt="menu item", id="drop-item")
                    yield Static("", classes="field-error", id="drop-item-error")
                with Vertical(classes="field"):
                    yield Input(placeholder="units", id="drop-quantity", restrict=r"[0-9]*")
                    yield Static("", classes="field-error", id="drop-quantity-error")
                with Vertical(classes="field"):
                    yield Input(placeholder="starts in min", id="drop-minutes", restrict=r"[0-9]*")
                    yield Static("", classes="field-error", id="drop-minutes-error")

    def on_mount(self) -> None:
        self.clear_errors()
        self.query_one("#drops", DataTable).add_columns("#", "item", "starts", "claims", "page")
        self.listen(self.console.node_returned, lambda _: self.reload())
        self.listen(self.console.node_event, self.event_seen)
        self.set_interval(1.0, self.tick)
        self.reload()
        if self.console.client is not None:
            self.fetch_menu(self.console.client)

    @work(exclusive=True, group="drop-menu", exit_on_error=False)
    async def fetch_menu(self, client: NodeClient) -> None:
        """The menu the item is picked from."""
        try:
            self.post_message(CatalogLoaded(await client.catalog()))
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Menu not loaded: {exc}"))

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        self.query_one("#drop-item", Select).set_options(
            (f"{item.name} ({item.sku})", item.sku) for item in message.items
        )

    def on_screen_resume(self) -> None:
        self.reload()

    def event_seen(self, event: NodeEvent) -> None:
        """A claim on a drop (or its order changing): fetch the drops again."""
        if event.kind == "drop" and self.is_current:
            self.reload()

    def tick(self) -> None:
        """Every second: redraw countdowns; poll the node every few seconds while shown."""
        if not self.is_current:
            return
        self.ticks += 1
        self.show_drops()
        if self.ticks % POLL_EVERY_TICKS == 0:
            self.reload()

    def reload(self) -> None:
        """Fetch the drops if the node is attached and up."""
        if self.console.client is not None and self.console.link.node != "down":
            self.fetch(self.console.client)

    @work(exclusive=True, group="drops", exit_on_error=False)
    async def fetch(self, client: NodeClient) -> None:
        """GET /api/drops."""
        try:
            self.post_message(DropsLoaded(await client.drops()))
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Drops not loaded: {exc}"))

    def on_drops_loaded(self, message: DropsLoaded) -> None:
        self.drops = message.drops
        self.show_drops()

    def show_drops(self) -> None:
        """Draw the table."""
        now = datetime.now(UTC)
        table = self.query_one("#drops", DataTable)
        table.clear()
        zone = self.console.stall_zone
        for drop in reversed(self.drops):
            table.add_row(
                str(drop.id), drop.name, f"{local_time(drop.starts_at, zone)} · {countdown(drop.starts_at, now)}",
                claims_text(drop), drop.url,
            )  # fmt: skip
        if not self.drops:
            table.add_row("", "no drops yet — press n", "", "", "")

    def action_new(self) -> None:
        """Fill in a new drop."""
        if self.console.client is not None:
            self.fetch_menu(self.console.client)
        self.query_one("#drop-item", Select).focus()

    def action_leave_form(self) -> None:
        """Back to watching."""
        self.set_focus(None)

    @on(Select.Changed, "#drop-item")
    def item_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):  # not the blank prompt
            self.query_one("#drop-item-error", Static).update("")
            self.query_one("#drop-quantity", Input).focus()

    @on(Input.Submitted, "#drop-quantity")
    def next_field(self) -> None:
        self.focus_next()

    def show_error(self, field: str, text: str) -> None:
        """A rule broken, in words, below its field (no line at all when none is)."""
        error = self.query_one(f"{field}-error", Static)
        error.update(text)
        error.display = bool(text)

    def clear_errors(self) -> None:
        """No rule broken (yet)."""
        for field in ("#drop-item", "#drop-quantity", "#drop-minutes"):
            self.show_error(field, "")

    @on(Input.Submitted, "#drop-minutes")
    def arm(self) -> None:
        """Check the form, then ask the node to arm the drop."""
        self.clear_errors()
        sku = self.query_one("#drop-item", Select).value
        quantity = self.query_one("#drop-quantity", Input).value
        minutes = self.query_one("#drop-minutes", Input).value or "0"
        broken = False
        if not isinstance(sku, str):
            self.show_error(*RULES["sku"])
            broken = True
        if not quantity.isdigit() or not 1 <= int(quantity) <= MAX_UNITS:
            self.show_error(*RULES["quantity"])
            broken = True
        if not isinstance(sku, str) or broken:
            return
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=int(minutes))
        client = self.console.usable_client()
        if client is not None:
            self.schedule(client, sku, int(quantity), starts.isoformat())

    @work(exclusive=True, group="drop-new", exit_on_error=False)
    async def schedule(self, client: NodeClient, sku: str, quantity: int, starts_at: str) -> None:
        """POST /api/drops."""
        try:
            drop = await client.schedule_drop(sku, quantity, starts_at)
        except Refused as exc:
            if exc.field in RULES:
                self.post_message(ActionFailed("Drop not armed.", RULES[exc.field]))
            else:
                self.post_message(ActionFailed(f"Drop not armed: {exc.error}"))
            return
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Drop not armed: {exc}"))
            return
        self.post_message(ActionDone(f"Drop #{drop.id} armed: {drop.quantity} x {drop.name}."))

    def on_action_done(self, message: ActionDone) -> None:
        self.query_one("#drop-item", Select).clear()
        for field in ("#drop-quantity", "#drop-minutes"):
            self.query_one(field, Input).value = ""
        self.clear_errors()
        self.set_focus(None)
        self.say(message.text)
        self.reload()

    def on_action_failed(self, message: ActionFailed) -> None:
        if message.field is not None:
            self.show_error(*message.field)
        self.say(message.text, error=True)
