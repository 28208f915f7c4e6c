"""The operator console app: its modes (screens), global keys and how it starts.

StallboxConsole composes the screens and binds the keys that work on every screen (F2-F12,
q, Ctrl+T); its link to the node (the one NodeClient, the monitor and the event reader, the key
checks) is tui/node_watch.py's NodeWatch, which it is built on, and what it tells the customer
display and the printer is tui/display.py's. Screens do their own I/O in exclusive workers and
post past-tense messages. build_app() is the one factory the CLI, the tests and the bench use.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual.binding import Binding, BindingType
from textual.filter import LineFilter
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tui import startup_gc
from tui.display import DisplayHooks
from tui.node_watch import NodeWatch
from tui.screens.sell import SellScreen
from tui.state import default_path

if TYPE_CHECKING:  # the Linux VT's glyphs and filter (ctypes, fcntl) load only on the VT
    import argparse

    from tui.vt.screen import VtGlyphs


def _screen(module: str, name: str) -> Screen[Any]:
    """A screen other than the first, imported when first shown: a Pi starts the console in
    ~7x the time it takes here, mostly importing (docs/performance.md)."""

    screen: Screen[Any] = getattr(importlib.import_module(f"tui.screens.{module}"), name)()
    return screen


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How this console was started (built once from the command line)."""

    node_url: str | None = None
    state_path: Path = dataclasses.field(default_factory=default_path)
    name: str = "console"
    interfaces: str = "all"
    poll_s: float = 2.0
    discover_s: float = 3.0
    pair_code: str | None = None  # pair with this code at start if no token is stored
    vt: VtGlyphs | None = None  # on the Linux VT: draw only these glyphs, in the VT's colours
    ready_undo_s: float = 5.0  # "ready" is sent this long after the key, so `u` can undo it


class StallboxConsole(DisplayHooks, NodeWatch):
    """The Stallbox operator console."""

    CSS_PATH = "app.tcss"
    TITLE = "Stallbox"
    ENABLE_COMMAND_PALETTE = False
    # The sell screen is the first mode: with Textual's "_default" mode first, switching to
    # "sell" in on_mount made a throwaway default screen and parsed the whole stylesheet twice
    # more (_init_mode and switch_mode each refresh the CSS), ~2% of the start's CPU.
    DEFAULT_MODE = "sell"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "sell": "sell",
        "orders": "orders",
        "drops": "drops",
        "sync": "sync",
        "numbers": "numbers",
    }
    SCREENS: ClassVar[dict[str, Callable[[], Screen[Any]]]] = {
        "sell": SellScreen,  # the first screen; the others are imported when first shown
        "orders": lambda: _screen("orders", "OrdersScreen"),
        "drops": lambda: _screen("drops", "DropsScreen"),
        "sync": lambda: _screen("sync", "SyncScreen"),
        "numbers": lambda: _screen("numbers", "NumbersScreen"),
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        # Shown in every screen's title line (NAV_HINT) rather than in the footer.
        Binding("f2", "go('sell')", "Sell", id="go-sell", show=False),
        Binding("f3", "go('orders')", "Orders", id="go-orders", show=False),
        Binding("f4", "go('drops')", "Drops", id="go-drops", show=False),
        Binding("f5", "go('sync')", "Sync", id="go-sync", show=False),
        Binding("f6", "go('numbers')", "Numbers", id="go-numbers", show=False),
        Binding("f7", "day('close')", "Close the day", id="close-day", show=False),
        Binding("f8", "day('restock')", "Restock", id="restock", show=False),
        Binding("f10", "day('clock')", "Clock", id="clock", show=False),
        Binding("f12", "display", "Customer display", id="display", show=False),
        Binding("f9", "reconnect", "Node / pair", id="node", show=False),
        Binding("ctrl+t", "toggle_theme", "Theme", id="theme", show=False),
        Binding("ctrl+q", "ask_quit", "Quit", id="quit", priority=True, show=False),
        Binding("q", "ask_quit", "Quit", id="quit-q", show=False),  # not while typing
    ]

    def __init__(self, settings: ConsoleSettings) -> None:
        super().__init__(settings)
        if self.state.data.theme in ("textual-light", "textual-dark"):
            self.theme = self.state.data.theme
        self.pair_code_spent = False
        self.vt_filter = None
        if settings.vt is not None:
            from tui.vt.screen import VtFilter

            self.vt_filter = VtFilter(settings.vt)
        if self.vt_filter is not None:
            self.add_class("vt")

    @property
    def money_locale(self) -> str:
        """The stall's locale for amounts, from the node's stats (English until they arrive)."""
        return self.stats.locale if self.stats is not None and self.stats.locale else "en"

    @property
    def stall_zone(self) -> tzinfo | None:
        """The stall's time zone from the node's stats; None means this console's own zone."""
        name = self.stats.timezone if self.stats is not None else ""
        try:
            return ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            return None

    def take_pair_code(self) -> str | None:
        """The --pair-code, once: a second pairing with a spent code would only fail."""
        if self.pair_code_spent or self.client is not None:
            return None
        self.pair_code_spent = True
        return self.settings.pair_code

    @property
    def qr_blocks(self) -> str:
        """How QR codes are drawn here: half blocks, full blocks, or not at all (no glyphs)."""
        vt = self.settings.vt
        if vt is None or vt.half_blocks:
            return "half"
        return "full" if "█" in vt.chars else "none"

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then (on the VT) the font's glyphs and the VT's colours."""
        filters = super().get_line_filters()
        return [*filters, self.vt_filter] if self.vt_filter is not None else filters

    def on_mount(self) -> None:
        self.set_timer(startup_gc.RESUME_AFTER_S, startup_gc.resume)  # if no catalogue comes
        self.switch_mode("sell")
        url = self.settings.node_url or self.state.data.last_url
        pinned = self.state.node(url) if url else None
        if url and pinned is not None and pinned.token:
            self.attach(url, pinned.token)
        else:
            self.show_connect()

    def action_day(self, what: str) -> None:
        """F7 the daily close, F8 restock (tui/screens/day.py), F10 the clock (screens/clock.py)."""
        from tui.screens.base import ConsoleModal
        from tui.screens.clock import ClockScreen
        from tui.screens.day import CloseDayScreen, RestockScreen

        client = self.usable_client()
        if client is not None:
            name = self.settings.name
            chosen: ConsoleModal = (
                CloseDayScreen(client) if what == "close"
                else ClockScreen(client, name) if what == "clock"
                else RestockScreen(client, name)
            )  # fmt: skip
            self.push_screen(chosen)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:  # a bug, not the network: one line, no traceback
            self.notify(f"{event.worker.name}: {event.worker.error!r}", severity="error")

    def action_go(self, mode: str) -> None:
        """Show one of the main screens."""
        if self.client is None:
            self.notify("Pair with a node first.", severity="warning")
            return
        self.switch_mode(mode)

    def action_ask_quit(self) -> None:
        """Quit (`q`, Ctrl+Q); first ask if orders are waiting for payment."""
        from tui.screens.confirm import quit_or_ask

        quit_or_ask(self)

    def action_reconnect(self) -> None:
        """Connect to another node, or pair again."""
        self.show_connect()

    def action_toggle_theme(self) -> None:
        """Light and dark themes, remembered in the state file."""
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"
        self.state.data.theme = self.theme
        try:
            self.state.save()
        except OSError as exc:
            self.notify(f"Theme not saved: {exc}", severity="warning")


def build_app(settings: ConsoleSettings) -> StallboxConsole:
    """The one factory the CLI, the tests and the bench use."""
    return StallboxConsole(settings)


def settings_from_args(args: argparse.Namespace) -> ConsoleSettings:
    """Settings from `stallbox console` arguments."""
    vt = getattr(args, "vt", None)
    if vt is None:
        vt = os.environ.get("TERM") == "linux"
    font = getattr(args, "vt_font", None)
    glyphs = None
    if vt:
        from tui.vt.screen import FONT_PATH, vt_glyphs

        glyphs = vt_glyphs(Path(font) if font else FONT_PATH, fd=0)
    return ConsoleSettings(
        node_url=args.node,
        state_path=Path(args.console_state) if args.console_state else default_path(),
        name=args.name,
        interfaces=args.interfaces,
        poll_s=args.poll,
        pair_code=args.pair_code,
        vt=glyphs,
    )


def run_console(args: argparse.Namespace) -> int:
    """Run the console in this terminal; return its exit code."""
    app = build_app(settings_from_args(args))
    app.run()
    return int(app.return_code or 0)
