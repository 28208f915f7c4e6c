"""The box's clock on the console: its time beside this device's, and setting it from ours.

A box with no real-time clock may have booted at the wrong time. F10 shows the box's time, this
console device's time and the difference, and any alarm (the clock behind the last receipt or
before the build: receipts then carry the later time, docs/operations.md "Clock"); Enter sets
the box's time from this device's clock. `clock_alarm` runs from the app's monitor now and then
and raises a toast while the box's clock is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from appliance.api.season_schemas import ClockOut
from tui.client import NodeClient
from tui.errors import ConsoleError
from tui.screens.base import ConsoleModal
from tui.screens.confirm import YES, ConfirmAction

if TYPE_CHECKING:
    from tui.node_watch import NodeWatch

ASK_OVER = timedelta(minutes=10)  # a larger jump is asked about first: this device may be wrong


class ClockRead(Message):
    """The node answered with its clock."""

    def __init__(self, clock: ClockOut | None, error: str = "") -> None:
        super().__init__()
        self.clock, self.error = clock, error


def describe(clock: ClockOut, here: datetime) -> list[str]:
    """The lines the dialog shows."""
    box = datetime.fromisoformat(clock.box_time)
    diff = (box - here).total_seconds()
    lines = [
        f"Box time      {box:%Y-%m-%d %H:%M:%S} UTC",
        f"This device   {here:%Y-%m-%d %H:%M:%S} UTC",
        f"Difference    {diff:+.0f} s"
        + (f" (offset set {clock.offset_s:+.0f} s)" if clock.offset_s else ""),
        f"Last receipt  {clock.last_receipt or '-'}",
    ]
    if clock.alarm:
        lines.append(f"⚠ {clock.alarm}")
    elif clock.last_alarm:
        lines.append(f"Last alarm ({clock.alarms} receipts): {clock.last_alarm}")
    return lines


class ClockScreen(ConsoleModal):
    """The box's clock; Enter sets it from this device's."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Back", id="clock-back"),
        Binding("enter", "set_clock", "Set from this device", id="clock-set"),
    ]

    def __init__(self, client: NodeClient, operator: str) -> None:
        super().__init__()
        self.client, self.operator = client, operator
        self.read: ClockOut | None = None  # the box's clock as last shown

    def compose(self) -> ComposeResult:
        with Vertical(id="clock-dialog", classes="dialog"):
            yield Static("Clock", classes="dialog-title")
            yield Static("Asking the box…", id="clock-text")
            yield Static("Enter: set the box's time from this device · Esc: back", classes="hint")

    def on_mount(self) -> None:
        self.fetch(set_it=False)

    @work(exclusive=True, group="clock", exit_on_error=False)
    async def fetch(self, set_it: bool) -> None:
        """GET /api/clock, or POST this device's time first."""
        try:
            clock = await (
                self.client.set_clock(datetime.now(UTC), self.operator)
                if set_it
                else self.client.clock()
            )
        except ConsoleError as exc:
            self.post_message(ClockRead(None, f"Clock not read: {exc}"))
            return
        self.post_message(ClockRead(clock))

    def on_clock_read(self, message: ClockRead) -> None:
        text = self.query_one("#clock-text", Static)
        if message.clock is None:
            text.update(message.error)
            return
        self.read = message.clock
        text.update("\n".join(describe(message.clock, datetime.now(UTC))))

    def action_set_clock(self) -> None:
        """Set the box's time from this device's clock; a jump of more than ASK_OVER, once asked."""
        here = datetime.now(UTC)
        box = None if self.read is None else datetime.fromisoformat(self.read.box_time)
        if box is None or abs(here - box) <= ASK_OVER:
            self.fetch(set_it=True)
            return
        question = (f"Move the box's clock {(here - box).total_seconds():+.0f} s, to this device's "
                    f"{here:%Y-%m-%d %H:%M:%S} UTC? Receipts never carry a time before the last "
                    "one, so a clock set ahead cannot be taken back.")  # fmt: skip
        self.app.push_screen(ConfirmAction(question, "s", "set it", again=False), self._answered)

    def _answered(self, answer: str | None) -> None:
        if answer == YES:
            self.fetch(set_it=True)

    def action_dismiss_none(self) -> None:
        """Back to where the vendor was."""
        self.dismiss(None)


async def clock_alarm(app: NodeWatch, client: NodeClient) -> None:
    """Toast once per alarm text while the box's clock is behind (F10 shows and sets it)."""
    try:
        clock = await client.clock()
    except ConsoleError:
        return  # the monitor reports a lost node
    if clock.alarm and clock.alarm != app.clock_alarm_shown:
        app.notify(f"{clock.alarm}. F10 to set it.", title="Clock", severity="error", timeout=15)
    app.clock_alarm_shown = clock.alarm
