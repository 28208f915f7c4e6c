"""The offline policy at tender: what is offered, what is recorded, and that confirm stands on it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from services_support import Clock

from appliance.domain.errors import TenderRefused
from appliance.domain.money import Money
from appliance.domain.policy import Limits, Verdict
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.drops import Drops


class PrintedRails:
    """Two rails giving a payload per amount."""

    def rail_names(self) -> list[str]:
        return ["pix", "upi"]

    def payload(self, rail: str, amount: Money, reference: str) -> str:
        return f"{rail}:{amount.decimal()}:{reference}"


def brl(minor: int) -> Money:
    return Money(minor, "BRL")


def rows(box: Box, sql: str) -> list[tuple[Any, ...]]:
    return box.writer.run_sync(lambda conn: conn.execute(sql).fetchall())


async def tendered(checkout: Checkout, tender: str, **lines: int) -> str:
    order = await checkout.create_order(lines=list(lines.items()))
    await checkout.choose_tender(order.id, tender)
    return order.id


def test_only_rails_the_policy_accepts_are_offered(box: Box, clock: Clock) -> None:
    limits = {"pix": Limits(per_sale=brl(1000)), "upi": Limits(exposure=brl(1500))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)

    async def scenario() -> None:
        assert await checkout.offered(brl(1000)) == ["cash", "pix", "upi"]
        assert await checkout.offered(brl(1001)) == ["cash", "upi"]  # over pix's per-sale limit
        assert await checkout.offered(brl(1501)) == ["cash"]  # over upi's exposure too
        await tendered(checkout, "upi", coffee=2)  # 12.00 of upi's 15.00 now at risk
        assert await checkout.offered(brl(400)) == ["cash", "pix"]

    asyncio.run(scenario())
    assert rows(box, "SELECT count(*) FROM decisions") == [(1,)]  # offering records nothing


def test_the_decision_is_recorded_at_tender_and_confirm_stands_on_it(
    box: Box, clock: Clock
) -> None:
    limits = {"pix": Limits(per_sale=brl(1000), exposure=brl(1500))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)

    async def scenario() -> None:
        first = await tendered(checkout, "pix", coffee=1)  # 6.00 of 15.00
        second = await tendered(checkout, "pix", coffee=1)  # 12.00 of 15.00
        third = (await checkout.create_order(lines=[("coffee", 1)])).id
        await checkout.choose_tender(third, "pix", operator="ana", override_reason="regular")
        # Exposure moved past the limit (18.00 > 15.00) after `first` and `second` were
        # offered pix: their tenders' decisions stand.
        done = await checkout.confirm(first)
        assert done.accepted and done.at_tender
        assert (
            done.decision.reason
            == "within pix limits: per-sale 10.00 BRL, exposure 6.00 BRL of 15.00 BRL"
        )
        stricter = Checkout(  # the limits tightened too (a restart with a new stallbox.toml)
            box, clock=clock, payments=PrintedRails(), limits={"pix": Limits(per_sale=brl(1))}
        )
        assert (await stricter.confirm(second)).accepted
        assert (await stricter.confirm(third)).decision.verdict is Verdict.OVERRIDE

    asyncio.run(scenario())
    assert [r[0] for r in rows(box, "SELECT verdict FROM decisions ORDER BY id")] == [
        "accept",
        "accept",
        "override",
    ]  # all three at tender, none at confirm
    assert rows(box, "SELECT count(*) FROM receipts WHERE kind = 'sale'") == [(3,)]


def test_exposure_counts_from_tender_and_is_released_when_the_order_will_not_be_paid(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(
        box,
        clock=clock,
        payments=PrintedRails(),
        limits={"pix": Limits(exposure=brl(1000))},
        hold=timedelta(minutes=15),
    )

    async def scenario() -> None:
        first = await tendered(checkout, "pix", coffee=1)  # 6.00 of 10.00
        with pytest.raises(TenderRefused, match="exposure limit"):
            await tendered(checkout, "pix", coffee=1)  # 12.00 > 10.00
        await checkout.choose_tender(first, "pix")  # again: its own 6.00 is not counted twice
        assert await checkout.offered(brl(600)) == ["cash", "upi"]
        await checkout.cancel(first)
        assert await checkout.offered(brl(600)) == ["cash", "pix", "upi"]

        switched = await tendered(checkout, "pix", coffee=1)
        await checkout.choose_tender(switched, "upi")  # a switch leaves pix's exposure
        assert await checkout.offered(brl(1000)) == ["cash", "pix", "upi"]

        waiting = await tendered(checkout, "pix", coffee=1)
        assert await checkout.offered(brl(600)) == ["cash", "upi"]
        clock.advance(minutes=16)
        assert waiting in await checkout.expire_due()
        assert await checkout.offered(brl(1000)) == ["cash", "pix", "upi"]

    asyncio.run(scenario())


def test_a_refused_attendee_order_stores_only_the_refusal(box: Box, clock: Clock) -> None:
    limits = {"pix": Limits(per_sale=brl(1000))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)

    async def scenario() -> None:
        with pytest.raises(TenderRefused, match="offered now: cash, upi"):
            await checkout.place_order([("pastel", 2)], "pix")
        placed = await checkout.place_order([("pastel", 1)], "pix")
        assert (await checkout.confirm(placed.order.id)).at_tender

    asyncio.run(scenario())
    assert rows(box, "SELECT order_id IS NULL, verdict FROM decisions ORDER BY id") == [
        (1, "refuse"),
        (0, "accept"),
    ]
    assert rows(box, "SELECT count(*) FROM orders") == [(1,)]


def test_an_order_tendered_before_the_upgrade_is_decided_at_confirm(box: Box, clock: Clock) -> None:
    limits = {"pix": Limits(per_sale=brl(1000))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)

    async def scenario() -> None:
        old = await tendered(checkout, "pix", coffee=1)
        box.writer.run_sync(lambda conn: conn.execute("DELETE FROM decisions"))  # as before
        done = await checkout.confirm(old)
        assert done.accepted and not done.at_tender

    asyncio.run(scenario())
    assert rows(box, "SELECT count(*) FROM decisions WHERE verdict = 'accept'") == [(1,)]


def test_a_drop_claim_on_a_refused_rail_takes_no_unit(box: Box, clock: Clock) -> None:
    limits = {"pix": Limits(per_sale=brl(1000))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)
    drops = Drops(checkout, None, clock)

    async def scenario() -> None:
        drop = await drops.schedule("pastel", 5, clock.now, 2, timedelta(minutes=5))
        with pytest.raises(TenderRefused, match="per-sale limit for pix"):
            await drops.claim(drop.id, "phone-a", 2, "pix")  # 19.00 > 10.00
        assert await drops.left(drop) == 5
        claimed = await drops.claim(drop.id, "phone-a", 1, "pix")
        assert (await checkout.confirm(claimed.tendered.order.id)).at_tender

    asyncio.run(scenario())
    assert rows(box, "SELECT order_id IS NULL, verdict FROM decisions ORDER BY id") == [
        (1, "refuse"),
        (0, "accept"),
    ]
