"""Drops against a real ledger: the units taken that claims keep in memory stay the database's."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from datetime import timedelta

import pytest
from services_support import T0, Clock

from appliance.domain.drops import Drop
from appliance.domain.errors import DropError
from appliance.domain.money import Money
from appliance.payments.config import CashRail, PixRail
from appliance.payments.registry import CACHE_SIZE, RailRegistry
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.drops import PRERENDER_MAX, Drops


def stored_taken(box: Box, drop_id: int) -> int:
    row = box.writer.run_sync(
        lambda conn: conn.execute("SELECT taken FROM drops WHERE id = ?", (drop_id,)).fetchone()
    )
    return int(row[0])


def test_left_racing_claims_never_sets_memory_behind_the_database(box: Box, clock: Clock) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> list[str]:
        drop = await drops.schedule("coffee", 3, clock.now, 1, timedelta(minutes=5))
        drops.taken.clear()  # as after a restart or an expiry: the next use recounts
        await asyncio.gather(
            drops.left(drop),
            drops.claim(drop.id, "a", 1, "cash"),
            drops.claim(drop.id, "b", 1, "cash"),
        )
        assert drops.taken[drop.id] == stored_taken(box, drop.id) == 2
        outcomes = []
        for who in "cde":
            try:
                await drops.claim(drop.id, who, 1, "cash")
                outcomes.append("claimed")
            except DropError as exc:
                outcomes.append(str(exc))
        return outcomes

    assert asyncio.run(scenario()) == ["claimed", "sold out", "sold out"]


def test_memory_behind_the_database_still_refuses_with_sold_out(box: Box, clock: Clock) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 1, clock.now, 1, timedelta(minutes=5))
        await drops.claim(drop.id, "a", 1, "cash")
        drops.taken[drop.id] = 0  # however memory fell behind, the CHECK on drops.taken holds
        with pytest.raises(DropError, match="sold out"):
            await drops.claim(drop.id, "b", 1, "cash")
        assert await drops.left(drop) == 0  # and the next use has recounted

    asyncio.run(scenario())


def test_a_failed_commit_makes_the_next_claim_recount(box: Box, clock: Clock) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    def dangling(conn: sqlite3.Connection) -> None:  # fails at COMMIT, taking its batch with it
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute(
            "INSERT INTO order_lines (order_id, sku, name, unit_price, qty)"
            " VALUES ('no-such-order', 'x', 'x', 1, 1)"
        )

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 2, clock.now, 1, timedelta(minutes=5))
        claim = asyncio.ensure_future(drops.claim(drop.id, "a", 1, "cash"))
        failed = asyncio.ensure_future(box.writer.run(dangling))
        await asyncio.gather(claim, failed, return_exceptions=True)
        assert claim.exception() is not None and stored_taken(box, drop.id) == 0
        await drops.claim(drop.id, "b", 1, "cash")
        await drops.claim(drop.id, "c", 1, "cash")  # both units were still there
        assert stored_taken(box, drop.id) == 2 and await drops.left(drop) == 0

    asyncio.run(scenario())


def test_expired_holds_give_their_units_back(box: Box, clock: Clock) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 1, clock.now, 1, timedelta(minutes=5))
        await drops.claim(drop.id, "a", 1, "cash")
        with pytest.raises(DropError, match="sold out"):
            await drops.claim(drop.id, "b", 1, "cash")
        clock.advance(minutes=6)
        assert len(await drops.expire_holds()) == 1
        assert await drops.left(drop) == 1
        await drops.claim(drop.id, "b", 1, "cash")
        assert await drops.left(drop) == 0 == 1 - stored_taken(box, drop.id)

    asyncio.run(scenario())


class CountingRails(RailRegistry):
    """Two Pix rails whose prerender counts the codes asked for (and stops the drop when told)."""

    def __init__(self, stop_after: int | None = None, drops: Drops | None = None) -> None:
        pix = PixRail(key="+5511999998888", merchant="PASTELARIA DEMO", city="SAO PAULO")
        super().__init__({"pix": pix, "pix2": pix, "cash": CashRail()}, "BRL")
        self.stop_after, self.drops = stop_after, drops

    def prerender(self, requests: Iterable[tuple[str, Money | None, str | None]]) -> int:
        count = 0
        for _request in requests:
            count += 1
            if count == self.stop_after and self.drops is not None:
                self.drops.stop_prerendering()
        return count


AHEAD = T0 + timedelta(hours=1)  # prerendering happens before a drop opens


def big_drop() -> Drop:
    """Issue 12's drop: 100,000 units, 100 per attendee (10 million codes, 2.2 GB, once)."""
    return Drop(7, "coffee", "Coffee", Money(600, "BRL"), 100_000, AHEAD, 100, timedelta(minutes=5))


def test_prerendering_costs_one_code_per_place_and_rail_within_half_the_cache(
    box: Box, clock: Clock
) -> None:
    rails = CountingRails()
    drops = Drops(Checkout(box, clock=clock), rails, clock)
    assert drops.prerender(big_drop()) == PRERENDER_MAX == CACHE_SIZE // 2
    small = Drop(8, "coffee", "Coffee", Money(600, "BRL"), 50, AHEAD, 5, timedelta(minutes=5))
    assert drops.prerender(small) == 50 * 2  # one-unit claims of every place, on both rails


def test_prerendering_stops_when_the_node_stops(box: Box, clock: Clock) -> None:
    rails = CountingRails(stop_after=10)
    drops = Drops(Checkout(box, clock=clock), rails, clock)
    rails.drops = drops
    assert drops.prerender(big_drop()) == 10


def test_prerendering_stops_when_the_drop_opens(box: Box, clock: Clock) -> None:
    """From the start the claims need the CPU; a pay page builds a missing code itself."""

    class OpeningRails(CountingRails):
        def prerender(self, requests: Iterable[tuple[str, Money | None, str | None]]) -> int:
            count = 0
            for _request in requests:
                count += 1
                if count == 10:
                    clock.now = AHEAD  # the drop opens while its codes are being built
            return count

    drops = Drops(Checkout(box, clock=clock), OpeningRails(), clock)
    assert drops.prerender(big_drop()) == 10
    assert drops.prerender(big_drop()) == 0  # an open drop: nothing more is built


def test_an_expired_hold_returns_its_units_to_the_next_claim_at_once(
    box: Box, clock: Clock
) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 1, clock.now, 1, timedelta(seconds=120))
        first = await drops.claim(drop.id, "a", 1, "cash")
        clock.advance(seconds=119)
        with pytest.raises(DropError, match="sold out"):
            await drops.claim(drop.id, "b", 1, "cash")
        clock.advance(seconds=1)  # the hold is up; no sweep has run
        second = await drops.claim(drop.id, "b", 1, "cash")
        assert second.expired == (first.tendered.order.id,)
        assert second.units_left == 0 and stored_taken(box, drop.id) == 1
        assert await drops.expire_holds() == []  # nothing left for the sweep
        clock.advance(seconds=120)  # b's hold is up: a may claim again, its own hold expired
        third = await drops.claim(drop.id, "a", 1, "cash")
        assert third.expired == (second.tendered.order.id,)

    asyncio.run(scenario())


def test_a_refused_claim_after_an_expiry_leaves_memory_matching_the_database(
    box: Box, clock: Clock
) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 2, clock.now, 1, timedelta(seconds=60))
        await drops.claim(drop.id, "a", 1, "cash")
        clock.advance(seconds=30)
        await drops.claim(drop.id, "b", 1, "cash")
        clock.advance(seconds=30)  # a's hold is up, b's is not: b is still refused
        with pytest.raises(DropError, match="per attendee"):
            await drops.claim(drop.id, "b", 1, "cash")
        assert await drops.left(drop) == 2 - stored_taken(box, drop.id)

    asyncio.run(scenario())
