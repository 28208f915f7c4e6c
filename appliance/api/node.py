"""What a running node holds: the box, its use cases, pairing, live events, metrics.

Built once by the lifespan from the frozen config; handlers reach it as `request.app.state.node`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from appliance.api.events import EventHub
from appliance.api.funnel import Funnel
from appliance.api.limits import RateLimiter, UnpaidOrders
from appliance.api.locale import Languages, stall_zone
from appliance.api.visitors import Visitors
from appliance.config import Config
from appliance.discovery import Advertiser, NodeAd
from appliance.ledger.figures import CONVERSION_BOUNDS_S
from appliance.ledger.identity import fingerprint
from appliance.payments.errors import PaymentError
from appliance.payments.registry import RailRegistry
from appliance.providers.apipix import ApiPix
from appliance.providers.settings import load_credentials
from appliance.services import node_upkeep as upkeep
from appliance.services import relay_queue
from appliance.services.bank_watch import BankWatch, Settled
from appliance.services.box import Box
from appliance.services.box_clock import BoxClock
from appliance.services.checkout import Checkout, utc_now
from appliance.services.disk import Storage, storage
from appliance.services.display import DisplayHub, DisplayOrders, DisplayPairing
from appliance.services.drops import Drops
from appliance.services.flag_inbox import follow_inbox
from appliance.services.flags import EdgeFlags
from appliance.services.own_delegation import OwnDelegation
from appliance.services.pairing import Pairing
from appliance.services.pass_peers import open_peers
from appliance.services.pass_sales import load_delegation, pass_sales
from appliance.services.pass_trust import SyncedTrust  # + what the sync daemon fetched
from appliance.services.passes import PassDesk
from appliance.services.popular import Popular
from appliance.services.printing import printer_queue
from appliance.services.relay_keys import OriginKeys, cloud_fetch
from appliance.services.revocation import on_node_start
from appliance.store.errors import DiskFull, NotFound, StoreError
from appliance.unix_listener import group_id

log = logging.getLogger(__name__)
EXPIRY_SWEEP_S = 1.0
UPLINK_POLL_S = 2.0  # how often the mDNS TXT's uplink=yes/no is brought up to date
UPLINK_FRESH = timedelta(seconds=60)  # a cloud contact this recent means "uplink=yes"
RELAY_RATE, RELAY_BURST = 2.0, 20  # relay POSTs per source address (an origin hands ~1 a batch)
STORAGE_PROBE_S = 5.0  # while the disk is full, try one small write this often to see it free


@dataclass
class Metrics:
    """The node's Prometheus metrics, in a registry of its own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.sales = Counter("stallbox_sales", "Sales confirmed", registry=r)
        self.revenue = Counter("stallbox_revenue_minor", "Revenue in minor units", registry=r)
        self.confirmations = Counter(
            "stallbox_confirmations",
            "Payment confirmations by rail and verdict",
            ["rail", "verdict"],
            registry=r,
        )
        self.edge_decisions = Counter(
            "stallbox_edge_decisions",
            "Policy decisions made on the box, with no cloud round trip",
            registry=r,
        )
        self.decisions = Counter("stallbox_decisions", "All policy decisions", registry=r)
        self.outbox_depth = Gauge(
            "stallbox_outbox_depth", "Receipts not yet acknowledged by the cloud", registry=r
        )
        self.oldest_unsynced = Gauge(
            "stallbox_oldest_unsynced_seconds",
            "Age of the oldest receipt not yet in the cloud",
            registry=r,
        )
        self.conversion = Histogram(
            "stallbox_conversion_seconds",
            "From an attendee's first menu view to their order paid",
            buckets=CONVERSION_BOUNDS_S,  # the funnel minutes' and the cloud's too
            registry=r,
        )
        self.funnel = Counter("stallbox_funnel", "Attendee funnel steps", ["step"], registry=r)


class Node:
    """A running checkout node."""

    def __init__(self, config: Config, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        passes = config.passes  # its documents first: a refused one stops the start, naming the key
        trust = None if passes is None else SyncedTrust(passes, state_dir, config.path)
        delegation = None if passes is None else load_delegation(passes, state_dir, config.path)
        self.box = Box.open(state_dir, config.currency)
        own = None if passes is None else OwnDelegation(passes, state_dir, self.box.key.public,
                                                        delegation)  # fmt: skip
        self.rails = RailRegistry.from_config(config.rails, config.currency)
        self.clock = BoxClock()  # the system clock plus what a vendor set from a console
        self.checkout = Checkout(
            self.box,
            limits=config.rail_limits,
            hold=timedelta(seconds=config.order_hold_s),
            payments=self.rails,
            clock=self.clock,
            reference_prefix=config.reference_prefix,
        )
        self.drops = Drops(self.checkout, self.rails, self.clock)
        self.pass_peers = (
            None
            if passes is None
            else open_peers(  # services/pass_peers.py
                passes,
                state_dir,
                self.box.key,
                self.box.writer,
                self.box.device_id,
                self.clock,
                None if own is None else own.synced,
            )
        )
        self.passes = PassDesk(
            passes, trust, self.clock, stall_zone(config.timezone), self.pass_peers
        )
        self.pass_sales = pass_sales(
            passes, delegation, self.box, self.checkout.hold, self.clock, own
        )
        self.checkout.hooks = self.pass_sales  # a paid pass product issues its pass (issue 19)
        # Pre-rendered drop pages, served before the start, and menus: per (drop, language tag).
        self.drop_pages: dict[tuple[int, str], bytes] = {}
        self.menu_page: dict[str, tuple[float, bytes]] = {}  # tag: (monotonic time, menu)
        self.sold_out_pages: dict[tuple[int, str], tuple[float, bytes]] = {}  # attendee/drop_pages
        self.offer_texts: dict[tuple[str, str, str, int], dict[str, str]] = {}  # attendee/upsell.py
        self.languages = Languages(config.locale, stall_zone(config.timezone))
        self.background: set[asyncio.Task[int]] = set()
        self._showing: set[asyncio.Task[None]] = set()
        self.pairing = Pairing(state_dir, self.box.key, self.box.device_id)
        on_node_start(state_dir, self.box.writer, self.pairing)  # token epoch from the ledger
        self.operator_gid = group_id(config.operator_group)  # may pair over the Unix socket
        self.events = EventHub()
        self.display_pairing = DisplayPairing(self.box.writer)  # customer displays (issue 16)
        self.display_hub = DisplayHub()
        self.printer = printer_queue(config, self.events.publish)  # None without [printer] device
        self.display_orders = (
            DisplayOrders()
        )  # opened orders -> the console whose display shows them
        self.events.listeners.append(self._follow_order)
        self.metrics = Metrics()
        self.funnel = Funnel()
        self.flags = EdgeFlags(  # the last good flag bundle, arms' figures, the canary judge
            config.flags, state_dir, self.box.writer, publish=self.events.publish,
            decided=self.count_edge_decision,
        )  # fmt: skip
        self.popular = Popular(self.box.writer)  # the last hour's best sellers (menu-order flag)
        self._steps: dict[str, Any] = {}  # bound metric children: labels() costs a lookup per call
        self.limiter = RateLimiter(rate=2.0, burst=20)  # attendee POSTs per address
        self.relay_limiter = RateLimiter(rate=RELAY_RATE, burst=RELAY_BURST)  # relay POSTs
        self.relay_keys = OriginKeys(cloud_fetch(state_dir))  # neighbours' keys, from our cloud
        self.unpaid = UnpaidOrders()  # attendee orders awaiting payment per address
        self.events.listeners.append(self.unpaid.heard)
        self.visitors = Visitors.for_device(self.box.key)  # signed visitor ids, client hashes
        self.fingerprint = fingerprint(self.box.key.public)
        self.outbox_depth = 0
        self.warn_free_bytes = config.storage_warn_free_mb * 1024 * 1024
        self._started = time.monotonic()
        self.advertiser: Advertiser | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port = self.operator_port = 0  # the planes' bound ports, known at start
        self.bank = bank_watch(self)  # None without a [provider]
        self.checkpointer = upkeep.checkpointer(self.box)

    async def start(self, port: int, operator_port: int, advertise: bool = True) -> None:
        """Load the catalogue, start the background sweeps and announce both planes' ports."""
        self.port, self.operator_port = port, operator_port
        try:
            await upkeep.load_catalog(self.box, self.config.catalog)
        except DiskFull as exc:  # a state, not a reason to stay down: serve the stored catalogue
            log.error("cannot update the catalogue from the config: %s", exc)
        self.warn_if_low()
        await self.refresh_outbox()
        await self.display_pairing.load()
        await self.flags.load()
        if self.printer is not None:
            self.printer.start()
        self._tasks.append(asyncio.create_task(self.checkpointer.run(), name="wal-checkpoint"))
        self._tasks.append(asyncio.create_task(self._sweep_expired(), name="expire-orders"))
        self._tasks.append(asyncio.create_task(self._count_live_minutes(), name="live-minutes"))
        self._tasks.append(asyncio.create_task(self._probe_storage(), name="storage-probe"))
        self._tasks.append(asyncio.create_task(self.flags.run(), name="flag-judge"))
        self._tasks.append(
            asyncio.create_task(
                follow_inbox(self.flags, self.state_dir, self.events.publish), name="flag-inbox"
            )
        )
        if self.bank is not None:
            self._tasks.append(asyncio.create_task(self.bank.run(), name="bank-watch"))
        if self.pass_peers is not None:
            peers = self.pass_peers.run(self.config.discovery if advertise else None)
            self._tasks.append(asyncio.create_task(peers, name="pass-peers"))
        if advertise:
            self.advertiser = Advertiser(
                NodeAd(
                    self.config.stall_name,
                    self.box.device_id,
                    port,
                    self.fingerprint,
                    operator_port=operator_port,
                ),
                self.config.discovery,
            )
            await self.advertiser.start()
            self._tasks.append(asyncio.create_task(self._follow_uplink(), name="mdns-uplink"))

    def _follow_order(self, kind: str, data: dict[str, Any]) -> None:
        """A tender was chosen for an order a console linked to its display: show its payment
        there at once (the QR built off the loop), without waiting for the console to ask."""
        if kind != "order" or data.get("state") != "awaiting_payment":
            return
        console = self.display_orders.console_of(str(data.get("id")))
        if console is not None and self.display_hub.following(console):
            task = asyncio.get_running_loop().create_task(self._show_payment(console, data["id"]))
            self._showing.add(task)
            task.add_done_callback(self._showing.discard)

    async def _show_payment(self, console: str, order_id: str) -> None:
        from appliance.api.operator.display_api import order_view  # the API's view, when used
        from appliance.api.schemas import DisplayOrder
        from appliance.domain.errors import DomainError
        from appliance.domain.orders import OrderState

        # The console asks for the same view a moment later: any failure here is its to report.
        with contextlib.suppress(StoreError, NotFound, PaymentError, DomainError):
            view = await order_view(self, DisplayOrder(console, "pay", order_id))
            # still awaiting payment after the QR was built? Then nothing newer was shown: a
            # confirmation commits before the console asks its display to show "paid"
            if (await self.checkout.get_order(order_id)).state is OrderState.AWAITING_PAYMENT:
                self.display_hub.show(console, view)

    def count(self, step: str) -> None:
        """Count a funnel step in /metrics."""
        child = self._steps.get(step)
        if child is None:
            child = self._steps[step] = self.metrics.funnel.labels(step)
        child.inc()

    def count_edge_decision(self) -> None:
        """Count a decision the box took itself (the canary judge's; policy ones: operator.py)."""
        self.metrics.decisions.inc()
        self.metrics.edge_decisions.inc()

    def record_paid(self, order_id: str, total: int) -> None:
        """Numbers for a confirmed sale: metrics, funnel and conversion latency."""
        self.metrics.sales.inc()
        self.metrics.revenue.inc(total)
        self.count("paid")
        self.flags.paid(order_id)
        latency = self.funnel.paid(order_id)
        if latency is not None:
            self.metrics.conversion.observe(latency)

    async def bank_settled(self, settled: Settled) -> None:
        """Numbers for an order the provider's credit settled (a sale, if the watch sold it)."""
        if settled.sold:
            self.metrics.confirmations.labels(settled.rail, "accept").inc()
            self.record_paid(settled.order_id, settled.total)
        await self.refresh_outbox()

    async def refresh_outbox(self) -> None:
        """Recount the outbox for STATUS=, /metrics and /api/stats (never fails its caller).

        Called after a sale or void has committed: the count is bookkeeping, and a request
        whose transaction committed is answered as committed whatever happens to it.
        """
        try:
            self.outbox_depth = await upkeep.outbox_depth(self.box)
        except StoreError as exc:
            log.warning("cannot recount the outbox: %s", exc)
            return
        self.metrics.outbox_depth.set(self.outbox_depth)

    def storage(self) -> Storage:
        """The state dir's disk: ok, low (below storage.warn_free_mb) or full (writes refused)."""
        return storage(self.state_dir, full=self.box.writer.full, warn_below=self.warn_free_bytes)

    def warn_if_low(self) -> None:
        """At start: one log line when the disk is below the free-space threshold or full."""
        disk = self.storage()
        if disk.state != "ok":
            log.warning(
                "storage %s: %.1f MiB free on %s (storage.warn_free_mb = %d); sales are refused "
                "when the disk is full - free some space",
                disk.state, disk.free_bytes / 2**20, self.state_dir, self.config.storage_warn_free_mb,
            )  # fmt: skip

    async def _sweep_expired(self) -> None:
        """Every second, expire due orders and drop holds; a failed sweep is retried, not fatal."""
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_S)
            try:
                expired = [*await self.checkout.expire_due(), *await self.drops.expire_holds()]
            except DiskFull:
                continue  # logged by the writer when the disk filled; tried again next sweep
            except StoreError as exc:  # any other store failure: the holds must still return later
                log.warning("expiry sweep failed, retrying in %.0f s: %s", EXPIRY_SWEEP_S, exc)
                continue
            for order_id in expired:
                self.events.publish("order", {"id": order_id, "state": "expired"})

    async def _count_live_minutes(self) -> None:
        """Once a minute: a minute more of open time, and the funnel's counts into their row."""
        while True:
            await asyncio.sleep(60)
            self._started = time.monotonic()
            counts, latencies, now = self.funnel.take(), self.funnel.take_latencies(), utc_now()
            with contextlib.suppress(DiskFull):  # a minute and its funnel counts: analytics
                await upkeep.minute_passed(self.box, counts, latencies, now)

    async def _probe_storage(self) -> None:
        """While the disk is full, try a one-row write now and then: it clears the state once
        space is back, even at a stall where nobody is buying."""
        while True:
            await asyncio.sleep(STORAGE_PROBE_S)
            if not self.box.writer.full:
                continue
            now = utc_now()
            with contextlib.suppress(DiskFull):
                await upkeep.probe_write(self.box, now)

    async def has_uplink(self) -> bool:
        """Whether this box's sync daemon reached the cloud itself lately and is not stopped."""
        return await relay_queue.has_uplink(self.box, utc_now(), UPLINK_FRESH)

    async def _follow_uplink(self) -> None:
        """Keep the TXT's uplink=yes/no true, so boxes without one find us (peer relay)."""
        while True:
            try:
                uplink = await self.has_uplink()
            except StoreError as exc:
                log.warning("cannot read the sync state for the uplink flag: %s", exc)
                uplink = False
            if self.advertiser is not None and uplink != self.advertiser.ad.uplink:
                log.info("uplink %s: updating the mDNS record", "up" if uplink else "down")
                await self.advertiser.set_uplink(uplink)
            await asyncio.sleep(UPLINK_POLL_S)

    async def live_minutes(self) -> float:
        """Minutes the stall has been open: those recorded plus this run's part minute."""
        stored = await upkeep.stored_live_minutes(self.box)
        return float(stored or 0) + (time.monotonic() - self._started) / 60

    def status(self) -> str:
        """The one line for systemd's STATUS=."""
        full = "; DISK FULL, sales refused" if self.box.writer.full else ""
        return f"serving; outbox {self.outbox_depth} receipt(s){full}"

    async def close(self) -> None:
        """Stop the sweeps, unregister from mDNS, close the database."""
        self.drops.stop_prerendering()  # a drop's codes: not worth delaying a stop
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.advertiser is not None:
            await self.advertiser.close()
        if self.bank is not None:
            await self.bank.provider.aclose()
        if self.printer is not None:
            await self.printer.stop()
        self.events.close()
        counts, latencies, now = self.funnel.take(), self.funnel.take_latencies(), utc_now()
        with contextlib.suppress(StoreError):  # analytics: never in the way of a clean stop
            await upkeep.add_funnel(self.box, now, counts, latencies)
        self.checkpointer.close()
        self.box.close()


def bank_watch(node: Node) -> BankWatch | None:
    """The node's bank watch over its [provider] (credentials from the state dir), or None."""
    settings = node.config.provider
    if settings is None:
        return None
    provider = ApiPix(settings, load_credentials(node.state_dir))
    return BankWatch(node.checkout, provider, settings, node.events.publish, node.bank_settled)
