"""Drop use cases: schedule, claim (atomic, first come by arrival), expire holds, pre-render.

A claim is one write transaction: check the rules against the units taken so far, take the next
place in line and hold the units. The writer runs transactions one after another in arrival
order, so a drop never oversells.

Claims first, orders after. In a rush a claim writes what the claim itself needs, durably,
before it answers: the drop's counter and its own row, which carries its order's id, number,
tender, payment reference and the policy's reason (two statements and one read, the next order
number). The order, its line and the tender's decision are built from that row, in the same
store, by four set-based statements (store/drops.py), when first asked for: the pay page, a
confirm or cancel, the hold's expiry, the console's order list, or the sweep BUILD_AFTER later.
Only when the tender's decision reads nothing stored (cash, or a rail with no exposure limit);
a rail with an exposure limit counts the claim's amount at once, so its order is stored with it.

What the rules read is kept in memory between claims: units taken per drop, each claimant's
units, when the first hold ends (only claims and expiries change them, both here, inside their
transactions; an expiry or a failed commit makes the next use recount). So a claim that does
not fit is refused from memory without a write, while no hold is due to give units back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from appliance.domain.catalog import Item
from appliance.domain.drops import Drop, check_claim
from appliance.domain.errors import DropError
from appliance.domain.orders import OrderState
from appliance.domain.policy import Limits
from appliance.payments.reference import drop_reference
from appliance.payments.registry import CACHE_SIZE, RailRegistry
from appliance.services.checkout import CASH, Checkout, Tendered
from appliance.services.claim_batch import ClaimBatches
from appliance.services.tender_policy import Refusal, or_raise
from appliance.store import drops as drops_sql
from appliance.store import orders as orders_sql
from appliance.store.drops import Claim

PRERENDER_MAX = CACHE_SIZE // 2
NO_LIMITS = Limits()
NEVER = datetime.max.replace(tzinfo=UTC)
BUILD_AFTER = timedelta(seconds=5)  # a claim's order not asked for by then is built by the sweep
SWEEP_BUILDS = 500  # orders one sweep builds at most: ~4 ms of the loop here, ~25 ms on a Pi 4


@dataclass(frozen=True, slots=True)
class Claimed:
    """A successful claim: the hold, its order's id and what the claimant needs to pay."""

    claim: Claim
    units_left: int
    expired: tuple[str, ...]  # orders whose holds ran out and were returned for this claim
    _tendered: Callable[[], Tendered]

    @property
    def order_id(self) -> str:
        """The claim's order (maybe not built yet: store/drops.py)."""
        return self.claim.order_id

    @property
    def tendered(self) -> Tendered:
        """The order waiting for payment and its payment code's text (built on asking)."""
        return self._tendered()


class Drops:
    """Drop use cases over one checkout."""

    def __init__(
        self, checkout: Checkout, rails: RailRegistry | None, clock: Callable[[], datetime]
    ) -> None:
        self.checkout = checkout
        self.writer = checkout.box.writer
        self.rails = rails
        self.clock = clock
        self.taken: dict[int, int] = {}  # drop id -> units held or paid; see _units_taken
        self.held: dict[int, dict[str, int]] = {}  # drop id -> claimant -> units; _units_mine
        self.due: dict[int, datetime] = {}  # drop id -> no hold of it ends before; with `held`
        self._failures = self.writer.failures
        self._drops: dict[int, Drop] = {}  # drops never change once scheduled
        self._stopping = threading.Event()
        self._unbuilt = True  # claims may wait for their orders (from before a restart too)
        self._built_to = 0  # every claim up to this id has its order built (0: not known)
        self._build_failures = self.writer.failures
        self.batches: ClaimBatches[Claimed | Refusal] = ClaimBatches(self.writer, self._forget_all)

    def _units_taken(self, conn: sqlite3.Connection, drop_id: int) -> int:
        """Units of a drop held or paid, from memory while it is current (in a write transaction).

        Only transaction functions read or change `taken`, so it moves in commit order with the
        database. A batch rolled back whole (a failed commit) may have left it ahead of what
        was stored: then everything is recounted.
        """
        taken = self._known_taken(drop_id)
        if taken is None:
            taken = self.taken[drop_id] = drops_sql.units_taken(conn, drop_id)
            self.held.pop(drop_id, None)
            self.due.pop(drop_id, None)
        return taken

    def _units_mine(self, conn: sqlite3.Connection, drop: Drop, attendee: str) -> int:
        """Units `attendee` holds or paid for on a drop: from memory as `taken`, after _units_taken.

        Memory holds every claimant of a drop (read once, moved on by each claim, forgotten with
        `taken`), so a rush of new claimants reads nothing: at most one entry per unit, ~100
        bytes each (a 100,000-unit drop, the most there can be: ~10 MB; a stall's 200: 20 kB).
        """
        held = self.held.get(drop.id)
        if held is None:
            held = self.held[drop.id] = drops_sql.units_held_by_each(conn, drop.id)
            self.due[drop.id] = drops_sql.first_hold_end(conn, drop.id) or NEVER
        return held.get(attendee, 0)

    def _known_taken(self, drop_id: int) -> int | None:
        """Units taken as memory has them, or None when it must recount."""
        if self._failures != self.writer.failures:
            self._failures = self.writer.failures
            self._forget_all()
        return self.taken.get(drop_id)

    def _forget_all(self) -> None:
        """Make every drop recount: a batch of claims was rolled back (claim_batch.py)."""
        self.taken.clear()
        self.held.clear()
        self.due.clear()

    def _forget(self, drop_id: int) -> None:
        """Make the next use of a drop recount what memory has of it."""
        self.taken.pop(drop_id, None)
        self.held.pop(drop_id, None)
        self.due.pop(drop_id, None)

    async def schedule(
        self, sku: str, quantity: int, starts_at: datetime, per_attendee: int, hold: timedelta
    ) -> Drop:
        """Schedule a drop of a catalogue item at its catalogue price."""
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> Drop:
            item = orders_sql.load_item(conn, sku)
            drop = Drop(0, item.sku, item.name, item.price, quantity, starts_at, per_attendee, hold)
            if starts_at < now - timedelta(minutes=1):
                raise DropError("starts_at is in the past")
            stored = drops_sql.insert_drop(conn, drop, now)
            self.taken[stored.id] = 0
            return stored

        drop = await self.writer.run(tx)
        self._drops[drop.id] = drop
        return drop

    async def left(self, drop: Drop) -> int:
        """Units not held or paid."""
        taken = self._known_taken(drop.id)
        if taken is None:
            taken = await self.writer.run(lambda conn: self._units_taken(conn, drop.id))
        return drop.quantity - taken

    async def claim(
        self, drop_id: int, attendee: str, qty: int, tender: str, early: timedelta = timedelta(0)
    ) -> Claimed:
        """Claim `qty` units for `attendee` (`early` before the start with a pass); DropError if not.

        TenderRefused when the offline policy refuses the tender (recorded; no units taken).
        """
        now = self.clock()
        self._refuse_early(drop_id, attendee, qty, now, early)

        def tx(conn: sqlite3.Connection) -> Claimed | Refusal:
            drop = self._drops.get(drop_id) or drops_sql.load_drop(conn, drop_id)
            taken = self._units_taken(conn, drop_id)
            mine = self._units_mine(conn, drop, attendee)
            expired: list[str] = []
            if (taken + qty > drop.quantity or mine + qty > drop.per_attendee) and (
                drops_sql.expired_holds(conn, now, drop_id)
            ):  # a hold whose time is up returns its units now, not at the next sweep
                expired = [order_id for _, order_id in self._expire(conn, now, drop_id)]
                taken = self._units_taken(conn, drop_id)
                mine = self._units_mine(conn, drop, attendee)
            try:
                check_claim(drop, qty, now=now, taken=taken, mine=mine, early=early)
                if self._decided_alone(tender):
                    result = self._claim_row(conn, drop, attendee, qty, tender, now, taken)
                else:
                    result = self._claim_order(conn, drop, attendee, qty, tender, now, taken)
            except Exception:  # a refusal, a tender not offered, a pass product not on sale now:
                if expired:  # the expiry rolls back with it, so memory must recount
                    self._forget(drop_id)
                raise
            if expired and isinstance(result, Claimed):
                return replace(result, expired=tuple(expired))
            return result

        return or_raise(await self.batches.run(tx))

    def _refuse_early(
        self, drop_id: int, attendee: str, qty: int, now: datetime, early: timedelta
    ) -> None:
        """DropError, from memory and with no write, for a claim its transaction would refuse.

        Only while memory knows the drop, its units taken, its claimants and that no hold of it
        ends by `now` (so the transaction could return none first). Claims queued before this
        one can only take more units, so a claim that does not fit now will not fit then; the
        transaction may name another of check_claim's reasons (a claimant's own claim queued
        ahead of this one: "at most" instead of "sold out"), never accept it.
        """
        drop, taken = self._drops.get(drop_id), self._known_taken(drop_id)
        held, due = self.held.get(drop_id), self.due.get(drop_id)
        if drop is None or taken is None or held is None or due is None or now >= due:
            return
        check_claim(drop, qty, now=now, taken=taken, mine=held.get(attendee, 0), early=early)

    def _claim_order(
        self, conn: sqlite3.Connection, drop: Drop, attendee: str, qty: int, tender: str,
        now: datetime, taken: int,
    ) -> Claimed | Refusal:  # fmt: skip
        """A claim whose tender's decision reads the rail's exposure: its order stored with it."""
        order = self.checkout.new_order(conn, [(Item(drop.sku, drop.name, drop.price), qty)])
        decision = self.checkout.policy.decide_tx(conn, tender, order.total)
        if not decision.accepted:  # before any unit is taken; an expiry above still stands
            return self.checkout.policy.refusal_tx(conn, decision, None)
        place = self._take(conn, drop, qty)
        tendered = self.checkout.tendered(
            order, tender, drop_reference(drop.id, place, self.checkout.reference_prefix)
        )
        orders_sql.insert_order(conn, tendered.order)
        self.checkout.policy.accept_tx(conn, decision, order.id, new=True)
        claim = drops_sql.insert_claim(conn, drop, attendee, qty, place, order.id, now)
        return self._claimed(drop, claim, taken, lambda: tendered)

    def _claim_row(
        self, conn: sqlite3.Connection, drop: Drop, attendee: str, qty: int, tender: str,
        now: datetime, taken: int,
    ) -> Claimed | Refusal:  # fmt: skip
        """The rush's claim: its row and the drop's counter, its order built from the row later.

        The same checks as _claim_order (the order and its line built in memory by new_order: a
        pass product may be sold now, the total fits a receipt), the tender is offered, the rail
        takes the total (its minimum and maximum: the code is built later), the policy accepts the
        tender for the total (reading nothing stored).
        """
        checkout = self.checkout
        order = checkout.new_order(conn, [(Item(drop.sku, drop.name, drop.price), qty)])
        checkout.require_offered(tender)
        if tender != CASH and self.rails is not None:  # what building its code would refuse
            self.rails.check_amount(tender, order.total)
        decision = checkout.policy.decide_tx(conn, tender, order.total)
        if not decision.accepted:
            return checkout.policy.refusal_tx(conn, decision, None)
        place = self._take(conn, drop, qty)
        later = drops_sql.ClaimOrder(
            order.number,
            tender,
            drop_reference(drop.id, place, self.checkout.reference_prefix),
            decision.reason,
        )
        claim = drops_sql.insert_claim(conn, drop, attendee, qty, place, order.id, now, later)
        self._unbuilt = True

        def tendered() -> Tendered:  # what the eager claim returned, built only if asked for
            built = replace(order, created_at=now)  # as it will be built from the claim's row
            return checkout.tendered(built, tender, later.reference)

        return self._claimed(drop, claim, taken, tendered)

    def _take(self, conn: sqlite3.Connection, drop: Drop, qty: int) -> int:
        """take_units; DropError('sold out') when memory was behind the CHECK on drops.taken."""
        try:
            return drops_sql.take_units(conn, drop, qty)
        except sqlite3.IntegrityError:
            self._forget(drop.id)
            raise DropError("sold out") from None

    def _claimed(
        self, drop: Drop, claim: Claim, taken: int, tendered: Callable[[], Tendered]
    ) -> Claimed:
        """The claim's result, with memory moved on by its units (the last step of its tx)."""
        self.taken[drop.id] = taken + claim.qty
        held = self.held.get(drop.id)
        if held is not None:
            held[claim.attendee] = held.get(claim.attendee, 0) + claim.qty
            self.due[drop.id] = min(self.due[drop.id], claim.expires_at)
        return Claimed(claim, drop.quantity - taken - claim.qty, (), tendered)

    def _may_be_unbuilt(self) -> bool:
        """False only when every claim's order is known built (a failed batch may undo a build)."""
        if self._build_failures != self.writer.failures:
            self._build_failures = self.writer.failures
            self._built_to, self._unbuilt = 0, True
        return self._unbuilt

    def _decided_alone(self, tender: str) -> bool:
        """True when the tender's decision reads nothing stored: cash, or a rail with no exposure limit.

        Then no other decision reads this one until it is recorded, so the claim can leave the
        order, its line and the decision to be built from its row (store/drops.py).
        """
        return tender == CASH or self.checkout.limits.get(tender, NO_LIMITS).exposure is None

    async def build_orders(self) -> int:
        """Build every claim's order not built yet (before orders are listed); return how many."""
        if not self._may_be_unbuilt():
            return 0

        def tx(conn: sqlite3.Connection) -> int:
            built = drops_sql.build_claimed_orders(conn, NEVER, self._built_to)
            self._built_to, self._unbuilt = drops_sql.built_to(conn, self._built_to)
            return built

        return await self.writer.run(tx)

    async def drop(self, drop_id: int) -> Drop:
        """One drop, from memory once read."""
        if drop_id not in self._drops:
            self._drops[drop_id] = await self.writer.run(
                lambda conn: drops_sql.load_drop(conn, drop_id)
            )
        return self._drops[drop_id]

    async def expire_holds(self) -> list[str]:
        """Expire unpaid holds whose time is up; their units go back to the drop.

        The same sweep builds the orders of claims BUILD_AFTER old whose pay page was not asked
        for yet, so the console's lists and the ledger see them soon after a rush, not in it; at
        most SWEEP_BUILDS a pass, so a rush longer than BUILD_AFTER is not stopped a second at a
        time while a second's claims are built (a pay page builds its own order when asked).
        """
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            expired = self._expire(conn, now)
            if self._may_be_unbuilt():
                built_by = now - BUILD_AFTER
                drops_sql.build_claimed_orders(conn, built_by, self._built_to, SWEEP_BUILDS)
                self._built_to, self._unbuilt = drops_sql.built_to(conn, self._built_to)
            return expired

        return [order_id for _, order_id in await self.writer.run_off_loop(tx)]

    def _expire(
        self, conn: sqlite3.Connection, now: datetime, drop_id: int | None = None
    ) -> list[tuple[int, str]]:
        """Expire the due holds (of one drop, or all) in the caller's transaction."""
        expired = []
        for claim_id, order_id in drops_sql.expired_holds(conn, now, drop_id):
            claim = drops_sql.claim_of_order(conn, order_id)
            assert claim is not None and claim.id == claim_id
            hold = drops_sql.load_drop(conn, claim.drop_id).hold
            order = orders_sql.load_order(conn, order_id)
            drops_sql.set_claim_state(conn, claim, "expired")
            self._forget(claim.drop_id)  # recounted on next use
            if order.state is OrderState.AWAITING_PAYMENT:
                orders_sql.update_order(conn, order.expire(now, hold, claim.expires_at - hold), now)
                orders_sql.settle_order_decisions(conn, order_id)  # no longer at risk
            expired.append((claim.drop_id, order_id))
        return expired

    def prerender(self, drop: Drop) -> int:
        """Build the payment codes of the first places' one-unit claims ahead of the start.

        In a thread. Once every place times every quantity (100,000 units x 100 per attendee
        was 10 million codes, 2.2 GB, and a stop waited 15 s for it), though the cache keeps
        only CACHE_SIZE codes and evicts the first places, needed first, to keep the last. Now
        one code per place and rail, places in the order claims take them, at most
        PRERENDER_MAX codes (half the cache, the other half for orders): O(units), bounded.
        A claim of more units, or past those places, gets its code built when its pay page asks.
        Stops at once when the node stops (stop_prerendering), and when the drop opens: from
        then on the claims need the CPU, and a pay page builds its own code when asked (a drop
        scheduled a second ahead on a Pi-class CPU had its claims share the core with 200
        codes still being built: claim p99 1.7-2.0 s, bench/pi.py;
        docs/performance/2026-12-04-fast-paths-menu-claim.md).
        """
        if self.rails is None:
            return 0
        rails = self.rails.rail_names()
        places = range(1, min(drop.quantity, PRERENDER_MAX // max(1, len(rails))) + 1)
        requests = (
            (rail, drop.price, drop_reference(drop.id, place, self.checkout.reference_prefix))
            for place in places
            for rail in rails
            if not self._stopping.is_set() and self.clock() < drop.starts_at
        )
        return self.rails.prerender(requests)

    def stop_prerendering(self) -> None:
        """Make every running prerender() return after its current code."""
        self._stopping.set()

    async def list(self) -> list[Drop]:
        """Every drop, newest first."""
        return await self.writer.run(drops_sql.list_drops)

    async def get(self, drop_id: int) -> Drop:
        """One drop."""
        return await self.drop(drop_id)
