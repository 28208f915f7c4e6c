"""Review of claims first, orders after: what a claim's memory keeps when its transaction fails,
and the rules a restart with claims whose orders are not built yet must still keep."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from services_support import Clock

from appliance.domain.errors import DropError, OrderError
from appliance.payments.config import PixRail
from appliance.payments.errors import PaymentError
from appliance.payments.registry import RailRegistry
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.drops import Drops


def rows(box: Box, sql: str) -> list[tuple[Any, ...]]:
    return box.writer.run_sync(lambda conn: conn.execute(sql).fetchall())


def test_a_claim_refused_after_expiring_holds_leaves_memory_to_recount(
    box: Box, clock: Clock
) -> None:
    # A claim that does not fit expires the due holds in its transaction; refused for its
    # tender (the attendee's form names any), the expiry rolls back with it. Memory kept the
    # expiry: phone-a's next claim fitted by memory, skipped the expiry, and held a second unit
    # beside its first, one per attendee.
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 3, clock.now, 1, timedelta(minutes=5))
        for who in ("phone-a", "phone-b", "phone-x"):
            await drops.claim(drop.id, who, 1, "cash")
        clock.advance(minutes=6)  # all three holds due: phone-c's claim does not fit, expires them
        with pytest.raises(OrderError, match="not offered"):
            await drops.claim(drop.id, "phone-c", 1, "no-such-rail")
        assert rows(box, "SELECT taken FROM drops") == [(3,)]  # rolled back: still held
        await drops.claim(drop.id, "phone-a", 1, "cash")

    asyncio.run(scenario())
    assert rows(box, "SELECT attendee, state FROM drop_claims ORDER BY id") == [
        ("phone-a", "expired"), ("phone-b", "expired"), ("phone-x", "expired"), ("phone-a", "held"),
    ]  # fmt: skip
    assert rows(box, "SELECT taken FROM drops") == [(1,)]


def test_a_restart_with_unbuilt_claims_keeps_the_limits_and_the_numbers(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(box, clock=clock)
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 3, clock.now, 1, timedelta(minutes=5))
        await drops.claim(drop.id, "phone-a", 1, "cash")
        restarted = Drops(Checkout(box, clock=clock), None, clock)  # memory lost
        with pytest.raises(DropError, match="at most 1"):
            await restarted.claim(drop.id, "phone-a", 1, "cash")
        await restarted.claim(drop.id, "phone-b", 1, "cash")
        await checkout.create_order(lines=[("coffee", 1)])  # a till sale between claim and build
        await restarted.claim(drop.id, "phone-c", 1, "cash")
        with pytest.raises(DropError, match="sold out"):
            await restarted.claim(drop.id, "phone-d", 1, "cash")
        assert await restarted.build_orders() == 3

    asyncio.run(scenario())
    assert rows(box, "SELECT number, state FROM orders ORDER BY number") == [
        (1, "awaiting_payment"), (2, "awaiting_payment"), (3, "open"), (4, "awaiting_payment"),
    ]  # fmt: skip


def test_concurrent_first_reads_and_confirms_of_an_unbuilt_claim_build_and_pay_once(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(box, clock=clock)
    drops = Drops(checkout, None, clock)

    async def scenario() -> list[str]:
        drop = await drops.schedule("pastel", 5, clock.now, 2, timedelta(minutes=5))
        order_id = (await drops.claim(drop.id, "phone-a", 2, "cash")).order_id
        answers = await asyncio.gather(
            checkout.get_order(order_id), checkout.get_order(order_id),
            checkout.confirm(order_id), checkout.confirm(order_id),
            drops.build_orders(), drops.expire_holds(), return_exceptions=True,
        )  # fmt: skip
        clock.advance(minutes=10)  # a paid claim's units stay taken
        assert await drops.expire_holds() == []
        return [type(answer).__name__ for answer in answers]

    answers = asyncio.run(scenario())
    assert answers == ["Order", "Order", "Confirmation", "TransitionRefused", "int", "list"]
    assert rows(box, "SELECT count(*) FROM order_lines") == [(1,)]
    assert rows(box, "SELECT count(*) FROM decisions") == [(1,)]
    assert rows(box, "SELECT state, built FROM drop_claims") == [("paid", 1)]
    assert rows(box, "SELECT count(*) FROM receipts WHERE kind = 'sale'") == [(1,)]
    assert rows(box, "SELECT taken FROM drops") == [(2,)]
    assert rows(box, "SELECT stock FROM items WHERE sku = 'pastel'") == [(10,)]  # the drop's own


def test_a_claim_over_its_rails_maximum_is_refused_before_it_takes_a_unit(
    box: Box, clock: Clock
) -> None:
    # An eager claim built its payment code in its transaction, and the rail's maximum refused
    # it there; a claim whose order is built later must refuse it too, not hold units no code
    # can be made for.
    rails = RailRegistry(
        {"pix": PixRail(key="a@b.co", merchant="M", city="C", max_amount="20")}, "BRL"
    )
    drops = Drops(Checkout(box, clock=clock, payments=rails), rails, clock)

    async def scenario() -> None:
        drop = await drops.schedule("pastel", 5, clock.now, 5, timedelta(minutes=5))
        with pytest.raises(PaymentError, match="over its maximum"):  # 3 x 9.50 > 20.00
            await drops.claim(drop.id, "phone-a", 3, "pix")
        free = await drops.schedule("coffee", 5, clock.now, 5, timedelta(minutes=5))
        await box.writer.run(
            lambda conn: conn.execute("UPDATE drops SET price = 0 WHERE id = ?", (free.id,))
        )
        drops._drops.clear()  # the drop as stored: a free one
        with pytest.raises(PaymentError, match="must be positive"):  # no code for nothing
            await drops.claim(free.id, "phone-a", 1, "pix")
        claimed = await drops.claim(drop.id, "phone-a", 2, "pix")
        assert claimed.tendered.payload is not None
        assert await drops.left(drop) == 3
        assert await drops.left(free) == 5

    asyncio.run(scenario())
    assert rows(box, "SELECT qty, tender FROM drop_claims") == [(2, "pix")]


def test_a_claim_no_receipt_could_carry_is_refused_before_it_takes_a_unit(
    box: Box, clock: Clock
) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("coffee", 5, clock.now, 5, timedelta(minutes=5))
        price = 600_000_000_000  # two units: 13 digits, past a receipt's 12
        await box.writer.run(lambda conn: conn.execute("UPDATE drops SET price = ?", (price,)))
        drops._drops.clear()  # the drop as stored
        with pytest.raises(OrderError, match="at most 999999999999"):
            await drops.claim(drop.id, "phone-a", 2, "cash")
        assert await drops.left(drop) == 5

    asyncio.run(scenario())
