"""The console's watch on its node: the one client, the monitor and the event reader.

StallboxConsole (tui/app.py) is built on this: the app composes screens, modes and keys; this
class keeps the link to the node. It owns the one NodeClient and two long-running workers: a
monitor that checks the node every `poll_s` (its key's proof, stats, sync state, bank) and an
SSE reader. What they learn arrives as past-tense messages (tui/messages.py) handled here and
goes to the screens as signals (link, stats, order events). When the node goes away the banner
shows, actions are refused with a clear line, and both workers keep trying until it is back;
when another key answers, nothing more is sent until the vendor decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import time
from collections import deque
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.signal import Signal

from appliance.api.schemas import IdentityOut, StatsOut, SyncOut
from tui import startup_gc
from tui.client import NodeClient, NodeEvent
from tui.errors import ConsoleError, KeyChanged, Refused, Unauthorized
from tui.flags_view import flag_notice
from tui.link import (
    Link,
    bank_report,
    cloud_state,
    money_alarms,
    pause_clock,
    storage_state,
)
from tui.messages import (
    EventReceived,
    IdentityChecked,
    KeyMismatch,
    NodeChecked,
    NodeLost,
    TokenRefused,
)
from tui.state import ConsoleState

if TYPE_CHECKING:
    from tui.app import ConsoleSettings

EVENT_RETRY_S = 1.0
CLOCK_CHECK_S = 30.0  # how often the monitor asks the box whether its clock is behind
SAMPLES = 120


class NodeWatch(App[int]):
    """The app's link to one node at a time: attach, check, follow events, distrust."""

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
        the status bar's redraw delayed the catalogue by a tenth,
        docs/performance/2026-12-04-console-without-httpx-cli.md).
        """
        client = self.client
        assert client is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.catalog_drawn.wait(), self.settings.poll_s)
        startup_gc.resume()  # the start is over (tui/startup_gc.py)
        for step in ("tender", "pay"):  # ready for the first sale's Enter and tender key
            importlib.import_module(f"tui.screens.{step}")
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
        transport cost a tenth of the start,
        docs/performance/2026-12-04-console-drain-postgres-perf-pi.md).
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
                paused_until=pause_clock(sync, getattr(self, "stall_zone", None)),
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

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()
