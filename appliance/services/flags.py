"""Flags on a running box: the last good bundle, each visitor's arm, per-arm figures, the judge.

The bundle a box runs on is kept in `<state dir>/flags.json` (written atomically and fsynced,
appliance/durable.py), so a box that restarts offline runs the same flags; one that no longer
verifies (expired, a key no longer trusted) means every flag's default. A visitor's arm is a pure
function of the bundle and the node-issued visitor id, so a phone stays in its arm. Arms are
resolved through the OpenFeature SDK (flags/provider.py: this node's own client and provider,
outside the SDK's global registry) once per visitor and flag for the bundle in force, then kept:
the SDK's evaluation costs about 20 µs, a kept arm a dict lookup (bench/flags.py).

Per arm the box counts page views (the page the flag changes: cart, menu, drop page), orders
paid and that page's latency (in memory: a restart
starts the measurement afresh). Every `judge_interval_s` the canary judge (flags/canary.py) looks
at each experiment's arms; an `off` verdict switches that arm off on this box at once (its
visitors get the default variant) and is stored in `flag_decisions` as an edge decision, and a
`pass` stops the judging; both are published to the consoles.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openfeature.evaluation_context import EvaluationContext

from appliance.domain.catalog import Item
from appliance.domain.money import Money
from appliance.durable import write_atomic
from appliance.flags.bundle import Bundle, LastGood
from appliance.flags.canary import ArmFigures, FlagDecision, Verdict, judge
from appliance.flags.errors import BundleRefused
from appliance.flags.evaluate import FlagSet
from appliance.flags.provider import FlagSetProvider, NodeClient
from appliance.flags.settings import FlagSettings
from appliance.services.box import Box
from appliance.store import flags as flags_sql
from appliance.store.errors import StoreError
from appliance.store.writer import Writer

log = logging.getLogger(__name__)
STATE_FILE = "flags.json"
LATENCY_WINDOW = 200  # the last this many cart latencies per arm give its p95
MAX_ORDERS = 10_000  # orders remembered with their arm until paid (oldest forgotten first)
MAX_RESOLVED = 20_000  # (flag, visitor) arms kept for the bundle in force; cleared when full
MAX_VIEWERS = 20_000  # (flag, visitor) views already counted; cleared when full


@dataclass(frozen=True, slots=True)
class Arm:
    """A visitor's arm of one flag: the variant they get, and whether it is measured."""

    flag: str
    variant: str
    value: Any
    measured: bool = True  # False once the arm is off: its visitors see control, uncounted


@dataclass
class Measured:
    """What the box saw of one arm since its bundle arrived (or the node started)."""

    views: int = 0
    paid: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    def figures(self) -> ArmFigures:
        """The judge's view of this arm: views, paid, p95 of the recent cart latencies."""
        ordered = sorted(self.latencies)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] * 1000 if ordered else None
        return ArmFigures(self.views, self.paid, p95, len(ordered))


Published = Callable[[str, dict[str, Any]], None]


class EdgeFlags:
    """The flags one node runs on, the arms' figures, and the judge's decisions."""

    def __init__(
        self,
        settings: FlagSettings,
        state_dir: Path,
        writer: Writer,
        *,
        publish: Published | None = None,
        decided: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.path, self.writer = settings, state_dir / STATE_FILE, writer
        self.last_good = LastGood(settings.keys, settings.scope)
        self.bundle_id = ""  # sha256 of the bundle's wire form: decisions are per bundle
        self.accepted_at = 0.0
        self.done: dict[tuple[str, str], FlagDecision] = {}  # off or passed arms
        self.arms: dict[tuple[str, str], Measured] = {}
        self._orders: OrderedDict[str, list[tuple[str, str]]] = OrderedDict()
        self._resolved: dict[tuple[str, str], tuple[str | None, Any]] = {}  # (flag, visitor)
        self._viewers: set[tuple[str, str]] = set()  # (flag, visitor) whose view was counted
        self.provider = FlagSetProvider(self._flagset)
        self.client = NodeClient(self.provider)  # this node's own: no global provider registry
        self._unrecorded: list[FlagDecision] = []  # taken, not yet stored (disk full)
        self._publish, self._decided, self.clock = publish, decided, clock
        self._offering = asyncio.Lock()

    @property
    def bundle(self) -> Bundle | None:
        """The bundle in use, or None."""
        return self.last_good.current

    def _flagset(self) -> FlagSet:
        bundle = self.last_good.current
        return FlagSet.empty() if bundle is None else bundle.flags

    def resolve(self, flag: str, visitor: str, default: Any) -> tuple[str | None, Any]:
        """(variant, value) of `flag` for a visitor through OpenFeature; typed by `default`.

        An object flag (a dict default), a string flag, else boolean, integer or float. An
        error (no such flag, a value of another type) gives no variant: the caller's default.
        """
        context = EvaluationContext(targeting_key=visitor)
        client = self.client
        if isinstance(default, dict):
            got: Any = client.get_object_details(flag, default, context)
        elif isinstance(default, str):
            got = client.get_string_details(flag, default, context)
        elif isinstance(default, bool):
            got = client.get_boolean_details(flag, default, context)
        elif isinstance(default, int):
            got = client.get_integer_details(flag, default, context)
        else:
            got = client.get_float_details(flag, float(default), context)
        return (None, default) if got.error_code is not None else (got.variant, got.value)

    async def load(self) -> None:
        """At start: take the stored bundle if it still verifies, and its arms' decisions."""
        try:
            stored = json.loads(self.path.read_bytes())
            wire, accepted = stored["wire"].encode(), float(stored["accepted_at"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: unreadable, running every flag's default (%s)", self.path, exc)
            return
        try:
            self.last_good.offer(wire, int(self.clock()))
        except BundleRefused as exc:
            log.warning(
                "%s: the stored bundle is refused, every flag's default: %s", self.path, exc
            )
            return
        self.bundle_id, self.accepted_at = hashlib.sha256(wire).hexdigest(), accepted
        self._resolved = {}
        rows = await self.writer.read(lambda conn: flags_sql.decisions_for(conn, self.bundle_id))
        self.done = {(row.flag, row.variant): row for row in rows}

    async def offer(self, wire: bytes) -> Bundle:
        """Take a new bundle if it verifies (else BundleRefused, the last good kept); store it.

        The bundle is stored and its decisions read before it is put in force, all at once:
        the judge never sees a new bundle with the old one's start time or decisions.
        """
        try:
            text = wire.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleRefused("a bundle is UTF-8 JSON") from None
        async with self._offering:  # two offers at once: one after the other, each checked
            now = self.clock()
            trial = LastGood(self.settings.keys, self.settings.scope)
            trial.current = self.last_good.current
            bundle = trial.offer(wire, int(now))  # refused here: nothing changed
            bundle_id = hashlib.sha256(wire).hexdigest()
            if bundle_id == self.bundle_id:  # the one in force, again (a retried delivery):
                return bundle  # its start time, figures and decisions stand
            record = json.dumps({"accepted_at": now, "wire": text}).encode()
            await asyncio.to_thread(write_atomic, self.path, record, 0o644)
            rows = await self.writer.read(lambda conn: flags_sql.decisions_for(conn, bundle_id))
            self.last_good.current, self.bundle_id, self.accepted_at = bundle, bundle_id, now
            self.done = {(row.flag, row.variant): row for row in rows}
            self.arms, self._orders, self._resolved = {}, OrderedDict(), {}
            self._viewers = set()
            return bundle

    def arm(self, flag: str, visitor: str | None, default: Any = None) -> Arm | None:
        """The visitor's arm of `flag`; None without a visitor id, a bundle in force or a variant.

        `default` gives the flag's type (docs/flags.md); None or a dict: an object flag, whose
        null variant (a control arm) has the value `{}`.
        """
        bundle = self.last_good.current
        if visitor is None or bundle is None or self.clock() >= bundle.expires_at:
            return None  # fail closed: the caller's default
        key = (flag, visitor)
        got = self._resolved.get(key)
        if got is None:
            got = self.resolve(flag, visitor, {} if default is None else default)
            if len(self._resolved) >= MAX_RESOLVED:
                self._resolved.clear()
            self._resolved[key] = got
        variant, value = got
        if variant is None:
            return None
        decided = self.done.get((flag, variant))
        if decided is not None and decided.verdict == Verdict.OFF:
            control = bundle.flags.fallback(flag, None)
            return Arm(flag, control.variant or "", control.value, measured=False)
        return Arm(flag, variant, value)

    def viewed(self, arm: Arm, seconds: float, visitor: str) -> None:
        """A view of the page the arm's flag changes by `visitor`, served in `seconds`.

        Views count visitors, once each per flag: one phone reloading a page (GETs are not rate
        limited) could otherwise add views to its own arm until the judge switched it off, or to
        control until a worse canary passed. Every view's latency is a sample.
        """
        if arm.measured:
            measured = self._measured(arm)
            if (arm.flag, visitor) not in self._viewers:
                if len(self._viewers) >= MAX_VIEWERS:
                    self._viewers.clear()
                self._viewers.add((arm.flag, visitor))
                measured.views += 1
            measured.latencies.append(seconds)

    def ordered(self, order_id: str, arm: Arm) -> None:
        """An order placed by a visitor in `arm`: its payment counts for the arm (and its others)."""
        if arm.measured:
            self._orders.setdefault(order_id, []).append((arm.flag, arm.variant))
            while len(self._orders) > MAX_ORDERS:
                self._orders.popitem(last=False)

    def paid(self, order_id: str) -> None:
        """An order was paid: one more for each arm it was placed in."""
        for key in self._orders.pop(order_id, ()):
            self.arms.setdefault(key, Measured()).paid += 1

    def _measured(self, arm: Arm) -> Measured:
        key = (arm.flag, arm.variant)
        measured = self.arms.get(key)
        if measured is None:
            measured = self.arms[key] = Measured()
        return measured

    def figures(self, flag: str, variant: str) -> ArmFigures:
        """An arm's figures now (zeros before its first view)."""
        return self.arms.get((flag, variant), Measured()).figures()

    async def judge_once(self) -> list[FlagDecision]:
        """Judge every experiment's canary arms once; switch off and record what must be."""
        bundle = self.last_good.current
        if bundle is None:
            return []
        now = self.clock()
        past = now >= self.accepted_at + self.settings.deadline_s
        taken: list[FlagDecision] = []
        keys = bundle.flags.keys()  # a FlagSet is no mapping: its keys, sorted
        for flag in keys:
            arms = bundle.flags.arms(flag)
            if arms is None:
                continue
            control, canaries = arms
            for variant in canaries:
                if (flag, variant) in self.done:
                    continue
                figures = self.figures(flag, control), self.figures(flag, variant)
                verdict = judge(*figures, self.settings.objective, past_deadline=past)
                if verdict.verdict is Verdict.CONTINUE:
                    continue
                shown = {"control": asdict(figures[0]), "canary": asdict(figures[1])}
                at = datetime.fromtimestamp(now, UTC).isoformat()
                decision = FlagDecision(
                    at, self.bundle_id, flag, variant, verdict.verdict.value, verdict.reason,
                    json.dumps(shown, sort_keys=True),
                )  # fmt: skip
                self.done[(flag, variant)] = decision  # at once: the next cart page sees it
                taken.append(decision)
        if taken:
            await self._record(taken)
        elif self._unrecorded:
            await self._write()
        return taken

    async def _record(self, taken: list[FlagDecision]) -> None:
        for decision in taken:
            log.warning(
                "flag %s arm %s: %s (%s)",
                decision.flag, decision.variant, decision.verdict, decision.reason,
            )  # fmt: skip
            if self._decided is not None:
                self._decided()
            if self._publish is not None:
                self._publish(
                    "flag",
                    {"flag": decision.flag, "variant": decision.variant,
                     "verdict": decision.verdict, "reason": decision.reason},
                )  # fmt: skip

        self._unrecorded.extend(taken)
        await self._write()

    async def _write(self) -> None:
        pending = list(self._unrecorded)

        def write(conn: sqlite3.Connection) -> None:
            for decision in pending:
                flags_sql.insert_decision(conn, decision)

        await self.writer.run_off_loop(write)
        del self._unrecorded[: len(pending)]

    async def run(self) -> None:
        """Judge every `judge_interval_s` until cancelled; a failed write is retried next time."""
        while True:
            await asyncio.sleep(self.settings.judge_interval_s)
            try:
                await self.judge_once()
            except StoreError as exc:  # the arm is off in memory already; the record is retried
                log.warning("cannot record a flag decision: %s", exc)


def upsell_of(arm: Arm | None) -> tuple[str, int | None] | None:
    """The item (sku) and offer price (minor units, or None for the catalogue's) an arm offers."""
    value = arm.value if arm is not None else None
    if not isinstance(value, dict) or not isinstance(value.get("sku"), str):
        return None  # control (null), or a variant that offers nothing
    price = value.get("price")
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        price = None
    return value["sku"], price


def offer_price(item: Item, price: int | None) -> Item:
    """The item at the offer's price: never above the catalogue's (an offer is not a surcharge)."""
    if price is None or price >= item.price.minor:
        return item
    return replace(item, price=Money(price, item.price.currency))


async def recent_decisions(box: Box, limit: int = 50) -> list[FlagDecision]:
    """The latest canary decisions on any bundle, newest first."""
    return await box.writer.read(lambda conn: flags_sql.recent_decisions(conn, limit))
