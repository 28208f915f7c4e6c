"""Claims first, orders after: a rush's claim writes its row and the drop's counter only.

The order, its line and the tender's decision are built from the claim's row when first asked
for, and must then be exactly what an eager claim stored; a refusal the memory can decide never
reaches the writer.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from services_support import T0, Clock

from appliance.domain.errors import DropError
from appliance.domain.money import Money
from appliance.domain.orders import OrderState
from appliance.domain.policy import Limits
from appliance.payments.reference import drop_reference
from appliance.services import drops as drops_module
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.drops import BUILD_AFTER, Drops
from appliance.store.drops import build_claimed_order, build_claimed_orders, built_to
from appliance.store.orders import next_order_number


class PrintedRails:
    """One rail giving a payload per amount."""

    def rail_names(self) -> list[str]:
        return ["pix"]

    def payload(self, rail: str, amount: Money, reference: str) -> str:
        return f"{rail}:{amount.decimal()}:{reference}"


def rows(box: Box, sql: str) -> list[tuple[Any, ...]]:
    return box.writer.run_sync(lambda conn: conn.execute(sql).fetchall())


def test_a_claim_stores_its_row_and_its_order_is_built_as_an_eager_claim_stored_it(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(box, clock=clock)
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("pastel", 5, clock.now, 2, timedelta(minutes=5))
        orders_before = rows(box, "SELECT count(*) FROM orders")
        claimed = await drops.claim(drop.id, "phone-a", 2, "cash")
        assert rows(box, "SELECT count(*) FROM orders") == orders_before  # nothing but the claim
        assert rows(box, "SELECT count(*) FROM decisions") == [(0,)]
        assert rows(box, "SELECT built, tender FROM drop_claims") == [(0, "cash")]
        expected = claimed.tendered.order  # what the eager claim stored and returned
        clock.advance(seconds=30)  # the pay page asks later: the order keeps the claim's time
        built = await checkout.get_order(claimed.order_id)
        assert built == expected
        assert built.state is OrderState.AWAITING_PAYMENT
        assert built.reference == drop_reference(drop.id, claimed.claim.place)
        assert await checkout.get_order(claimed.order_id) == expected  # built once
        assert rows(box, "SELECT built FROM drop_claims") == [(1,)]

    asyncio.run(scenario())
    assert rows(box, "SELECT rail, amount, verdict, reason, at, settled FROM decisions") == [
        ("cash", 1900, "accept", "cash in hand", T0.isoformat(), 0)
    ]


def test_a_sale_after_an_unbuilt_claim_takes_the_next_number(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 5, clock.now, 1, timedelta(minutes=5))
        claimed = await drops.claim(drop.id, "phone-a", 1, "cash")
        sale = await checkout.create_order(lines=[("coffee", 1)])
        built = await checkout.get_order(claimed.order_id)  # UNIQUE (number) would refuse it
        assert sale.number == built.number + 1
        assert (await checkout.confirm(claimed.order_id)).accepted

    asyncio.run(scenario())


def test_the_sweep_builds_old_claims_and_expiry_builds_then_returns_the_units(
    box: Box, clock: Clock
) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 2, clock.now, 1, timedelta(minutes=5))
        await drops.claim(drop.id, "phone-a", 1, "cash")
        assert await drops.expire_holds() == []
        assert rows(box, "SELECT built FROM drop_claims") == [(0,)]  # too recent
        clock.advance(seconds=BUILD_AFTER.total_seconds())
        await drops.claim(drop.id, "phone-b", 1, "cash")
        assert await drops.expire_holds() == []
        assert rows(box, "SELECT built FROM drop_claims ORDER BY id") == [(1,), (0,)]
        clock.advance(minutes=5)
        assert len(await drops.expire_holds()) == 2  # phone-b's order built, then expired
        assert await drops.left(drop) == 2

    asyncio.run(scenario())
    assert rows(box, "SELECT state FROM orders") == [("expired",), ("expired",)]
    assert rows(box, "SELECT settled FROM decisions") == [(1,), (1,)]


def test_the_sweep_commits_off_the_loop(box: Box, clock: Clock) -> None:
    """The sweep that builds a rush's orders is no request's: its COMMIT must not hold the loop.

    On the Pi harness that COMMIT (200 built orders on an SD card) held the loop ~1 s while 50
    phones waited for the menu (docs/performance/2026-12-05-menu-after-a-rush.md).
    """
    checkout = Checkout(box, clock=clock)
    drops = Drops(checkout, None, clock)
    threads: list[str] = []
    commit = box.writer._commit

    def spied() -> None:
        threads.append(threading.current_thread().name)
        commit()

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 3, clock.now, 1, timedelta(minutes=5))
        for phone in ("phone-a", "phone-b", "phone-c"):
            await drops.claim(drop.id, phone, 1, "cash")
        clock.advance(seconds=BUILD_AFTER.total_seconds())
        box.writer._commit = spied  # type: ignore[method-assign]
        assert await drops.expire_holds() == []  # builds the three orders
        clock.advance(minutes=5)
        assert len(await drops.expire_holds()) == 3
        assert await checkout.expire_due() == []
        box.writer._commit = commit  # type: ignore[method-assign]

    loop_thread = threading.current_thread().name
    asyncio.run(scenario())
    assert rows(box, "SELECT built FROM drop_claims") == [(1,), (1,), (1,)]
    assert len(threads) == 3 and loop_thread not in threads, threads


def test_a_rail_with_an_exposure_limit_stores_the_order_with_the_claim(
    box: Box, clock: Clock
) -> None:
    limits = {"pix": Limits(exposure=Money(5000, "BRL"))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("pastel", 9, clock.now, 9, timedelta(minutes=5))
        await drops.claim(drop.id, "phone-a", 3, "pix")  # 28.50 now at risk
        assert rows(box, "SELECT built FROM drop_claims") == [(1,)]
        with pytest.raises(Exception, match="exposure limit"):  # 28.50 + 28.50 > 50.00
            await drops.claim(drop.id, "phone-b", 3, "pix")

    asyncio.run(scenario())
    assert rows(box, "SELECT count(*) FROM orders") == [(1,)]


def test_a_refusal_memory_can_decide_never_reaches_the_writer(box: Box, clock: Clock) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 1, clock.now, 1, timedelta(minutes=5))
        await drops.claim(drop.id, "phone-a", 1, "cash")
        run = box.writer.run_off_loop  # claims are queued as the rush's jobs (claim_batch.py)
        submitted: list[object] = []

        async def counted(fn: Any) -> Any:
            submitted.append(fn)
            return await run(fn)

        box.writer.run_off_loop = counted  # type: ignore[method-assign]
        for who, reason in (("phone-b", "sold out"), ("phone-a", "at most 1 per attendee")):
            with pytest.raises(DropError, match=reason):
                await drops.claim(drop.id, who, 1, "cash")
        assert submitted == []
        clock.advance(minutes=5)  # the hold ends: the claim goes to the writer, which returns it
        await drops.claim(drop.id, "phone-b", 1, "cash")
        assert len(submitted) == 1

    asyncio.run(scenario())


def test_what_a_claim_reads_is_found_by_an_index(box: Box) -> None:
    def plans(conn: Any) -> list[str]:
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        next_order_number(conn)
        build_claimed_order(conn, "no-such-order")
        build_claimed_orders(conn, T0, 0)  # the sweep: the claims after the last known built
        built_to(conn, 0)
        conn.set_trace_callback(None)
        return [
            " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))
            for query in seen
        ]

    found = box.writer.run_sync(plans)
    assert len(found) == 8
    for plan in found:
        assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), plan


def test_the_sweep_builds_at_most_sweep_builds_orders_a_pass(
    box: Box, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drops_module, "SWEEP_BUILDS", 2)
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> list[int]:
        drop = await drops.schedule("coffee", 5, clock.now, 1, timedelta(minutes=5))
        for who in "abcde":
            await drops.claim(drop.id, f"phone-{who}", 1, "cash")
        clock.advance(seconds=BUILD_AFTER.total_seconds())
        built = []
        for _ in range(3):  # a rush longer than BUILD_AFTER: each pass builds a bounded share
            await drops.expire_holds()
            built.append(rows(box, "SELECT count(*) FROM drop_claims WHERE built = 1")[0][0])
        return built

    assert asyncio.run(scenario()) == [2, 4, 5]
    assert rows(box, "SELECT count(*) FROM orders") == [(5,)]
