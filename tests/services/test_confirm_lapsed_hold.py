"""A confirm of an order whose hold ran out is refused as it is once the expiry sweep has run.

The sweep runs every second (Node._sweep_expired); until it does, a lapsed drop claim or order
still reads as waiting for payment. Each test confirms in that gap (the box's clock moved past
the hold, no sweep), then sweeps and confirms again: the same refusal, nothing stored, and the
sweep still expires what the refused confirm left alone. A confirm in time is still a sale.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from services_support import Clock
from test_bank_watch import SETTINGS, FakeProvider, pay
from test_checkout import PrintedRails

from appliance.domain.errors import TransitionRefused
from appliance.services.bank_watch import BankWatch
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.drops import Drops

HOLD = timedelta(minutes=2)
AFTER_SWEEP = "order is expired, cannot become paid"  # order.pay()'s refusal once swept


def stored(box: Box) -> list[Any]:
    """What a refused confirm must leave as it was: orders, claims, drops' counters, receipts."""

    def read(conn: Any) -> list[Any]:
        return [
            conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("orders", "drop_claims", "drops", "receipts", "items", "decisions")
        ]

    return box.writer.run_sync(read)


@pytest.mark.parametrize("tender", ["cash", "pix"])
def test_a_drop_claim_past_its_hold_is_refused_before_and_after_the_sweep(
    box: Box, clock: Clock, tender: str
) -> None:
    checkout = Checkout(box, clock=clock, payments=PrintedRails())
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("pastel", 5, clock.now, 1, HOLD)
        in_time = await drops.claim(drop.id, "a", 1, tender)
        lapsed = await drops.claim(drop.id, "b", 1, tender)
        clock.advance(seconds=HOLD.total_seconds() - 1)
        assert (await checkout.confirm(in_time.order_id)).accepted  # a second left: a sale
        clock.advance(seconds=1)  # b's hold ends now (the sweep's own test: expires_at <= now)
        before = stored(box)
        with pytest.raises(TransitionRefused, match=AFTER_SWEEP):
            await checkout.confirm(lapsed.order_id, cash_received=None)
        assert stored(box) == before  # nothing sold, nothing expired by the refusal
        assert await drops.expire_holds() == [lapsed.order_id]  # the sweep still does its part
        with pytest.raises(TransitionRefused, match=AFTER_SWEEP):
            await checkout.confirm(lapsed.order_id)
        assert await drops.left(drop) == 4  # a's unit sold, b's back

    asyncio.run(scenario())


def test_an_order_past_the_order_hold_is_refused_before_and_after_the_sweep(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(box, clock=clock, hold=HOLD, payments=PrintedRails())

    async def scenario() -> None:
        opened = await checkout.create_order(lines=[("pastel", 1)])
        clock.advance(minutes=10)  # an order may stay open for long: the hold runs from its tender
        waiting = await checkout.choose_tender(opened.id, "pix")
        clock.advance(seconds=HOLD.total_seconds())
        before = stored(box)
        with pytest.raises(TransitionRefused, match=AFTER_SWEEP):
            await checkout.confirm(waiting.order.id)
        assert stored(box) == before
        assert await checkout.expire_due() == [waiting.order.id]
        with pytest.raises(TransitionRefused, match=AFTER_SWEEP):
            await checkout.confirm(waiting.order.id)

    asyncio.run(scenario())


def test_an_order_tendered_long_after_it_opened_is_still_sold_within_its_hold(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(box, clock=clock, hold=HOLD, payments=PrintedRails())

    async def scenario() -> None:
        opened = await checkout.create_order(lines=[("pastel", 1)])
        clock.advance(minutes=10)
        await checkout.choose_tender(opened.id, "pix")
        clock.advance(seconds=HOLD.total_seconds() - 1)
        assert (await checkout.confirm(opened.id)).accepted

    asyncio.run(scenario())


def test_the_bank_watch_sells_no_lapsed_claim_and_its_credit_is_left_to_the_statement(
    box: Box, clock: Clock
) -> None:
    provider = FakeProvider()
    events: list[tuple[str, dict[str, Any]]] = []
    checkout = Checkout(box, clock=clock, payments=PrintedRails())
    watch = BankWatch(checkout, provider, SETTINGS, lambda k, d: events.append((k, d)), clock=clock)
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("pastel", 5, clock.now, 1, HOLD)
        claimed = await drops.claim(drop.id, "a", 1, "pix")
        await checkout.get_order(claimed.order_id)  # its pay page was read: the order is built
        clock.advance(seconds=HOLD.total_seconds())
        pay(provider, clock, claimed.tendered.reference, 950, 1)  # the payer paid too late
        before = stored(box)
        assert await watch.poll_once() == []  # listed while the claim still read as waiting
        assert stored(box) == before and watch.status.confirmed == 0
        assert (
            "order",
            {"id": claimed.order_id, "state": "paid", "evidence": "bank"},
        ) not in events
        assert await drops.expire_holds() == [claimed.order_id]

    asyncio.run(scenario())
