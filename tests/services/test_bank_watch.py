"""The bank watch over a provider made here: what it confirms, when it asks, what it reports.

The real PSP process over mutual TLS is tests/e2e/test_psp.py; here each rule is one round.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from services_support import Clock
from test_checkout import PrintedRails

from appliance.domain.money import Money
from appliance.domain.provider_match import ProviderCredit
from appliance.providers.errors import ProviderUnreachable
from appliance.providers.settings import ProviderSettings
from appliance.services.bank_watch import BankWatch
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.ledger_files import verify_state
from appliance.store import evidence as evidence_sql

SETTINGS = ProviderSettings("apipix", "pix", "psp", "https://psp.test/api/v2",
                            "https://psp.test/oauth/token", "pix.read", 1.0, 60.0, 1.0, 24)  # fmt: skip


class FakeProvider:
    """Lists the credits the test put there; counts the questions; can be down."""

    name = "psp"

    def __init__(self) -> None:
        self.listed: list[ProviderCredit] = []
        self.asked = 0
        self.down = False

    async def credits(self, start: Any, end: Any) -> list[ProviderCredit]:
        self.asked += 1
        if self.down:
            raise ProviderUnreachable("GET /pix: no answer in time")
        return [c for c in self.listed if start <= c.at <= end]

    async def aclose(self) -> None:
        return None


def pay(provider: FakeProvider, clock: Clock, txid: str, minor: int, n: int) -> None:
    provider.listed.append(ProviderCredit(f"E18236120{n:023d}", txid, Money(minor, "BRL"), clock()))


@pytest.fixture
def watch(
    box: Box, clock: Clock
) -> tuple[BankWatch, FakeProvider, list[tuple[str, dict[str, Any]]]]:
    provider = FakeProvider()
    events: list[tuple[str, dict[str, Any]]] = []
    checkout = Checkout(box, clock=clock, payments=PrintedRails())
    made = BankWatch(checkout, provider, SETTINGS, lambda kind, data: events.append((kind, data)),
                     clock=clock)  # fmt: skip
    return made, provider, events


def states(box: Box, *orders: str) -> list[str]:
    found = box.writer.run_sync(lambda conn: evidence_sql.payment_states(conn, orders))
    return [found.get(o, "-") for o in orders]


def test_a_paid_order_is_sold_with_its_bank_line_and_a_lie_is_reported_once(
    box: Box, clock: Clock, watch: tuple[BankWatch, FakeProvider, list[tuple[str, dict[str, Any]]]]
) -> None:
    bank, provider, events = watch

    async def scenario() -> None:
        checkout = bank.checkout
        assert await bank.poll_once() == [] and provider.asked == 0  # nothing waits: no question
        honest = await checkout.place_order([("pastel", 2)], "pix")
        liar = await checkout.place_order([("pastel", 1)], "pix")
        clock.advance(seconds=30)
        pay(provider, clock, honest.reference, 1900, 1)
        pay(provider, clock, liar.reference, 100, 2)  # wrong amount
        done = await bank.poll_once()
        assert [(s.order_id, s.sold) for s in done] == [(honest.order.id, True)]
        assert states(box, honest.order.id, liar.order.id) == ["bank", "-"]
        assert (await checkout.get_order(liar.order.id)).state.value == "awaiting_payment"
        await bank.poll_once()  # the same lie again: reported once
        assert [d["problem"] for k, d in events if k == "bank"] == ["wrong_amount"]
        assert ("order", {"id": honest.order.id, "state": "paid", "evidence": "bank"}) in events

    asyncio.run(scenario())
    summary = verify_state(box.state_dir)
    assert summary.count == 3  # start, the sale, its bank evidence; nothing for the liar
    assert bank.status.confirmed == 1 and bank.status.state == "ok"


def test_a_sale_confirmed_by_sight_gets_its_bank_line_when_due(
    box: Box, clock: Clock, watch: tuple[BankWatch, FakeProvider, list[tuple[str, dict[str, Any]]]]
) -> None:
    bank, provider, _ = watch

    async def scenario() -> None:
        waiting = await bank.checkout.place_order([("pastel", 1)], "pix")
        provider.down = True
        with pytest.raises(ProviderUnreachable):
            await bank.poll_once()
        await bank.checkout.confirm(waiting.order.id)  # offline: the vendor looks at the phone
        assert states(box, waiting.order.id) == ["unverified"]
        provider.down = False
        pay(provider, clock, waiting.reference, 950, 1)
        clock.advance(seconds=30)
        assert await bank.poll_once() == [] and provider.asked == 1  # only sold ones wait: not due
        clock.advance(seconds=SETTINGS.recheck_s)
        done = await bank.poll_once()
        assert [(s.order_id, s.sold) for s in done] == [(waiting.order.id, False)]
        assert states(box, waiting.order.id) == ["bank"]

    asyncio.run(scenario())
    verify_state(box.state_dir)


def test_an_order_cancelled_before_its_credit_arrives_is_not_sold(
    box: Box, clock: Clock, watch: tuple[BankWatch, FakeProvider, list[tuple[str, dict[str, Any]]]]
) -> None:
    bank, provider, _ = watch

    async def scenario() -> None:
        gone = await bank.checkout.place_order([("pastel", 1)], "pix")
        other = await bank.checkout.place_order([("coffee", 1)], "pix")
        await bank.checkout.cancel(gone.order.id)
        pay(provider, clock, gone.reference, 950, 1)
        assert await bank.poll_once() == []
        assert (await bank.checkout.get_order(gone.order.id)).state.value == "cancelled"
        assert other.order.state.value == "awaiting_payment"

    asyncio.run(scenario())


def test_the_watch_backs_off_while_unreachable_and_says_so(
    watch: tuple[BankWatch, FakeProvider, list[tuple[str, dict[str, Any]]]],
) -> None:
    bank, _, events = watch
    delays = [bank._failed(ProviderUnreachable("down")) for _ in range(6)]
    assert all(SETTINGS.poll_s <= d <= 8.0 for d in delays)
    assert bank.status.state == "unreachable" and bank.status.failures == 6
    assert events == [("bank", {"link": "unreachable", "error": "down"})]  # said once
    bank._succeeded()
    assert bank.status.state == "ok" and events[-1] == ("bank", {"link": "ok"})


def test_a_poll_for_a_paying_order_knows_every_sale_the_listing_may_name(
    box: Box, clock: Clock, watch: tuple[BankWatch, FakeProvider, list[tuple[str, dict[str, Any]]]]
) -> None:
    bank, provider, events = watch

    async def scenario() -> None:
        by_sight = await bank.checkout.place_order([("pastel", 1)], "pix")
        await bank.checkout.confirm(by_sight.order.id)
        assert await bank.poll_once() == []  # asked (due): nothing listed yet
        clock.advance(seconds=5)  # the next recheck is not due for a minute
        paying = await bank.checkout.place_order([("coffee", 1)], "pix")
        pay(provider, clock, by_sight.reference, 950, 1)
        pay(provider, clock, paying.reference, 600, 2)
        done = await bank.poll_once()
        assert sorted(s.order_id for s in done) == sorted([by_sight.order.id, paying.order.id])
        assert [e for e in events if e[0] == "bank"] == []  # no false "unknown txid"

    asyncio.run(scenario())


def test_a_credit_for_a_sale_a_statement_confirmed_is_nothing_new() -> None:
    from datetime import UTC, datetime

    from appliance.domain.provider_match import judge

    credit = ProviderCredit("E" * 32, "001X", Money(950, "BRL"), datetime(2026, 12, 4, tzinfo=UTC))
    assert judge([], [credit], {}).problems  # unknown txid when nothing knows it
    assert judge([], [credit], {}, banked={"001x"}).problems == ()
