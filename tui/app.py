"""The operator console app: its screens, global keys, and the link to the node.

The app owns the one NodeClient and two long-running workers: a monitor that checks the node
every `poll_s` (stats, sync state) and an SSE reader. What they learn goes to the screens as
signals (link, stats, order events); screens do their own I/O in exclusive workers and post
past-tense messages. When the node goes away the banner shows, actions are refused with a
clear line, and both workers keep trying until it is back — never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.filter import LineFilter
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from appliance.api.schemas import IdentityOut, StatsOut, SyncOut
from tui import startup_gc
from tui.client import NodeClient, NodeEvent
from tui.display import DisplayHooks
from tui.errors import ConsoleError, KeyChanged, Refused, Unauthorized
from tui.flags_view import flag_notice
from tui.link import Link, bank_report, cloud_state, money_alarms, storage_state
from tui.messages import (
    EventReceived,
    IdentityChecked,
    KeyMismatch,
    NodeChecked,
    NodeLost,
    TokenRefused,
)
from tui.screens.sell import SellScreen
from tui.state import ConsoleState, default_path

if TYPE_CHECKING:  # the Linux VT's glyphs and filter (ctypes, fcntl) load only on the VT
    import argparse

    from tui.vt.screen import VtGlyphs

EVENT_RETRY_S = 1.0
CLOCK_CHECK_S = 30.0  # how often the monitor asks the box whether its clock is behind
SAMPLES = 120


def _screen(module: str, name: str) -> Screen[Any]:
    """A screen other than the first, imported when first shown: a Pi starts the console in
    ~7x the time it takes here, mostly importing (docs/performance.md)."""
    import importlib

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


class StallboxConsole(DisplayHooks, App[int]):
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
        super().__init__()
        self.settings = settings
        self.state = ConsoleState(settings.state_path)
        self.client: NodeClient | None = None
        self.link = Link(url=settings.node_url)
        self.stats: StatsOut | None = None
        self.sync: SyncOut | None = None
        self.revenue_samples: deque[float] = deque(maxlen=SAMPLES)
        self.clock_checked = -CLOCK_CHECK_S  # when the box's clock was last asked about
        self.clock_alarm_shown: str | None = None
        self.link_changed: Signal[Link] = Signal(self, "link-changed")
        self.stats_changed: Signal[StatsOut] = Signal(self, "stats-changed")
        self.node_event: Signal[NodeEvent] = Signal(self, "node-event")
        self.node_returned: Signal[None] = Signal(self, "node-returned")
        self.node_checked = asyncio.Event()  # the monitor heard the node since the last attach
        self.catalog_drawn = asyncio.Event()  # the sell screen drew a catalogue since the attach
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

    def show_connect(self, note: str = "") -> None:
        """Push the connect/pair screen (only one at a time)."""
        from tui.screens.connect import ConnectScreen

        if not isinstance(self.screen, ConnectScreen):
            self.push_screen(ConnectScreen(self.settings.node_url or self.link.url, note))

    def attach(self, url: str, token: str) -> None:
        """Use this node from now on: one client, the monitor and the event reader."""
        if self.client is not None:
            old = self.client
            self.run_worker(old.close(), group="close")
        pinned = self.state.node(url)
        self.client = NodeClient(url, token, pin=pinned.fingerprint if pinned else None)
        self.node_checked.clear()
        self.catalog_drawn.clear()
        self.set_link(Link(url=url, node="connecting"))
        self.monitor()
        self.read_events()
        self.node_returned.publish(None)

    def set_link(self, link: Link) -> None:
        """Remember and publish a link state."""
        self.link = link
        self.link_changed.publish(link)

    def usable_client(self) -> NodeClient | None:
        """The client if the node is reachable; otherwise say clearly why nothing is sent."""
        if self.client is None:
            self.notify("Not paired with a node yet (F9).", severity="error")
            return None
        if self.link.node == "down":
            self.notify(
                "Node unreachable — not sent. The console keeps reconnecting.",
                severity="error",
                title="Refused",
            )
            return None
        return self.client

    @work(exclusive=True, group="monitor", exit_on_error=False)
    async def monitor(self) -> None:
        """Check the node every poll_s, for as long as the app runs.

        The first check waits for the sell screen's first catalogue (at most poll_s): at start
        the catalogue goes first, alone (on a Pi the checks' four requests, their decoding and
        the status bar's redraw delayed the catalogue by a tenth, docs/performance.md).
        """
        client = self.client
        assert client is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.catalog_drawn.wait(), self.settings.poll_s)
        startup_gc.resume()  # the start is over (tui/startup_gc.py)
        importlib.import_module("tui.screens.pay")  # ready for the first sale's tender key
        proven = False  # who answers is checked on every (re)connection: a swapped box shows
        while True:
            try:
                if not proven:
                    self.post_message(IdentityChecked(client.base_url, await client.identity()))
                    proven = True
                stats = await client.stats()
                sync = await client.sync_state()
                self.post_message(NodeChecked(stats, sync, await client.bank()))
            except Unauthorized as exc:
                self.post_message(TokenRefused(str(exc)))
                return
            except KeyChanged as exc:  # the handshake showed another key: nothing was sent
                self.post_message(KeyMismatch(exc.url, exc.pinned, exc.shown))
                return
            except Refused as exc:
                if not proven and exc.status == 200:  # no proof of its key: as loud as a change
                    self.post_message(IdentityChecked(client.base_url, None, str(exc)))
                    return
                self.post_message(NodeLost(str(exc)))
            except ConsoleError as exc:
                proven = False
                self.post_message(NodeLost(str(exc)))
            await asyncio.sleep(self.settings.poll_s)

    @work(exclusive=True, group="events", exit_on_error=False)
    async def read_events(self) -> None:
        """Follow /api/events, reconnecting after any break.

        The stream opens once the monitor has heard the node: at start the catalogue and the
        monitor's checks go first (on a Pi the stream's own connection and httpx's streaming
        transport cost a tenth of the start, docs/performance.md).
        """
        client = self.client
        assert client is not None
        await self.node_checked.wait()
        while True:
            try:
                async for event in client.events():
                    self.post_message(EventReceived(event))
            except (Unauthorized, KeyChanged):
                return  # the monitor says why
            except ConsoleError:
                pass
            await asyncio.sleep(EVENT_RETRY_S)

    def on_node_checked(self, message: NodeChecked) -> None:
        was_down = self.link.node == "down"
        stats, sync = message.stats, message.sync
        self.stats, self.sync = stats, sync
        self.node_checked.set()
        self.revenue_samples.append(float(stats.revenue))
        cloud = cloud_state(sync)
        self.set_link(
            dataclasses.replace(
                self.link,
                node="up",
                cloud=cloud,
                outbox_depth=stats.outbox_depth,
                oldest_unsynced_s=stats.oldest_unsynced_s,
                storage=storage_state(stats.storage),
                free_bytes=stats.free_bytes,
                **money_alarms(message.bank),
                attempts=0,
                error="",
            )
        )
        self.stats_changed.publish(stats)
        if self.client is not None and time.monotonic() >= self.clock_checked + CLOCK_CHECK_S:
            from tui.screens.clock import clock_alarm

            self.clock_checked = time.monotonic()
            self.run_worker(
                clock_alarm(self, self.client), group="clock", exclusive=True, exit_on_error=False
            )
        if was_down:
            self.notify("Node is back.", title="Reconnected")
            self.node_returned.publish(None)

    def on_identity_checked(self, message: IdentityChecked) -> None:
        client, shown = self.client, message.identity
        if client is None or client.base_url != message.url:
            return
        if message.error or shown is None:
            self.distrust(message.url, f"⚠ {message.error or 'no proof of key'}. Not connected.")
            return
        pin = self.state.check(message.url, shown.node_id, shown.fingerprint)
        if not pin.changed or pin.known is None:
            return
        from tui.screens.connect import KeyChangedScreen

        token = client.token
        self.distrust(message.url, "")
        self.push_screen(
            KeyChangedScreen(pin.known.fingerprint, shown.fingerprint),
            lambda answer: self.key_decided(message.url, shown, token, answer == "trust"),
        )

    def on_key_mismatch(self, message: KeyMismatch) -> None:
        client = self.client
        if client is None or client.base_url != message.url:
            return
        from tui.screens.connect import KeyChangedScreen

        token = client.token
        self.distrust(message.url, "")
        self.push_screen(
            KeyChangedScreen(message.pinned, message.shown),
            lambda answer: self.key_trusted(message.url, message.shown, token, answer == "trust"),
        )

    def key_trusted(self, url: str, shown: str, token: str | None, trusted: bool) -> None:
        """After the loud warning on a handshake: pin the new key and go on, or stay off."""
        known = self.state.node(url)
        if trusted and token and known is not None:
            self.state.pin(url, known.node_id, shown, token)
            self.attach(url, token)
        else:
            self.show_connect("Not connected: the node's key was not trusted.")

    def distrust(self, url: str, note: str) -> None:
        """Stop using the node now: no client, no checks; say why on the connect screen."""
        self.workers.cancel_group(self, "monitor")
        self.workers.cancel_group(self, "events")
        if self.client is not None:
            self.run_worker(self.client.close(), group="close")
        self.client = None
        self.set_link(Link(url=url, node="untrusted", error=note or "key changed"))
        if note:
            self.show_connect(note)

    def key_decided(self, url: str, shown: IdentityOut, token: str | None, trusted: bool) -> None:
        """After the loud warning: pin the new key and go on, or stay disconnected."""
        if trusted and token:
            self.state.pin(url, shown.node_id, shown.fingerprint, token)
            self.attach(url, token)
        else:
            self.show_connect("Not connected: the node's key was not trusted.")

    def on_node_lost(self, message: NodeLost) -> None:
        attempts = self.link.attempts + 1
        self.set_link(
            dataclasses.replace(self.link, node="down", attempts=attempts, error=message.error)
        )

    def on_token_refused(self, message: TokenRefused) -> None:
        if self.link.url:
            self.state.forget_token(self.link.url)
        self.set_link(dataclasses.replace(self.link, node="unpaired", error=message.error))
        self.show_connect(f"The node refused this console's token ({message.error}). Pair again.")

    def on_event_received(self, message: EventReceived) -> None:
        event = message.event
        if event.kind == "bank" and "problem" in event.data:  # a credit that confirmed nothing
            self.notify(bank_report(event.data), title="Bank", severity="error", timeout=30)
        if event.kind == "flag":  # the box switched a canary arm off (or passed it): say why
            self.notify(flag_notice(event.data), title="Flags", severity="warning", timeout=30)
        self.node_event.publish(event)

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

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()


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
