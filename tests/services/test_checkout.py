"""Checkout against a real ledger: sales, policy decisions, voids, expiry, concurrency."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from services_support import Clock

from appliance.domain.errors import (
    CatalogError,
    OrderError,
    OutOfStock,
    TenderRefused,
    TransitionRefused,
)
from appliance.domain.money import Money
from appliance.domain.orders import OrderState
from appliance.domain.policy import Limits, Verdict
from appliance.ledger.chain import verify_chain
from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.ledger_files import verify_state
from appliance.store import ledger as ledger_sql


class PrintedRails:
    """The payment port as the checkout sees it: named rails giving a payload per amount."""

    def rail_names(self) -> list[str]:
        return ["pix"]

    def payload(self, rail: str, amount: Money, reference: str) -> str:
        return f"{rail}:{amount.decimal()}:{reference}"


def rows(box: Box, sql: str) -> list[tuple[Any, ...]]:
    return box.writer.run_sync(lambda conn: conn.execute(sql).fetchall())


async def ring_up(checkout: Checkout, tender: str = "cash", **lines: int) -> str:
    order = await checkout.create_order()
    for sku, qty in lines.items():
        await checkout.add_line(order.id, sku, qty)
    await checkout.choose_tender(order.id, tender)
    return order.id


def test_a_cash_sale_signs_a_receipt_that_verifies(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> None:
        order_id = await ring_up(checkout, pastel=2, coffee=1)
        done = await checkout.confirm(order_id)
        assert done.accepted and done.receipt is not None
        assert done.decision.verdict is Verdict.ACCEPT and done.decision.reason == "cash in hand"
        assert done.receipt.seq == 1 and done.receipt.kind is ReceiptType.SALE
        assert done.receipt.total == 2 * 950 + 600
        assert done.order.state is OrderState.PAID

    asyncio.run(scenario())
    assert rows(box, "SELECT stock FROM items WHERE sku = 'pastel'") == [(8,)]
    assert verify_state(box.state_dir).count == 2


def test_a_rail_tender_gets_the_payload_and_a_checkable_reference(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock, payments=PrintedRails())
    assert checkout.tenders() == ["cash", "pix"]

    async def scenario() -> None:
        order = await checkout.create_order()
        await checkout.add_line(order.id, "coffee", 2)
        tendered = await checkout.choose_tender(order.id, "pix")
        assert tendered.payload == f"pix:12.00:{tendered.reference}"
        done = await checkout.confirm(order.id)
        assert done.receipt is not None and done.receipt.ref == tendered.reference
        with pytest.raises(OrderError, match="not offered"):
            await checkout.choose_tender((await checkout.create_order()).id, "card")

    asyncio.run(scenario())


def test_a_refusal_at_tender_is_recorded_and_can_be_overridden(box: Box, clock: Clock) -> None:
    limits = {"pix": Limits(per_sale=Money(1000, "BRL"), exposure=Money(1500, "BRL"))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)

    async def scenario() -> None:
        big = (await checkout.create_order(lines=[("pastel", 2)])).id  # 19.00 > 10.00
        assert await checkout.offered_for(big) == ["cash"]
        with pytest.raises(TenderRefused, match="per-sale limit for pix; offered now: cash") as e:
            await checkout.choose_tender(big, "pix")
        assert e.value.field == "tender"
        assert (await checkout.get_order(big)).state is OrderState.OPEN  # never invited to pay
        overridden = await checkout.choose_tender(
            big, "pix", operator="ana", override_reason="saw the bank app"
        )
        assert overridden.order.state is OrderState.AWAITING_PAYMENT
        sold = await checkout.confirm(big)
        assert sold.accepted and sold.at_tender and sold.decision.verdict is Verdict.OVERRIDE
        assert sold.decision.reason.startswith("override by ana: saw the bank app")

        small = (await checkout.create_order(lines=[("pastel", 1)])).id
        with pytest.raises(TenderRefused, match="exposure limit"):  # 19.00 + 9.50 > 15.00
            await checkout.choose_tender(small, "pix")

    asyncio.run(scenario())
    verdicts = [r[0] for r in rows(box, "SELECT verdict FROM decisions ORDER BY id")]
    assert verdicts == ["refuse", "override", "refuse"]
    assert rows(box, "SELECT count(*) FROM receipts WHERE kind = 'sale'") == [(1,)]
    assert rows(box, "SELECT stock FROM items WHERE sku = 'pastel'") == [(8,)]


def test_a_void_references_the_sale_and_returns_stock_and_exposure(box: Box, clock: Clock) -> None:
    limits = {"pix": Limits(exposure=Money(2000, "BRL"))}
    checkout = Checkout(box, clock=clock, payments=PrintedRails(), limits=limits)

    async def scenario() -> None:
        first = await ring_up(checkout, "pix", pastel=2)
        sale = await checkout.confirm(first)
        assert sale.receipt is not None
        void = await checkout.void(first)
        assert void.kind is ReceiptType.VOID and void.ref == str(sale.receipt.seq)
        assert void.total == sale.receipt.total
        with pytest.raises(TransitionRefused):
            await checkout.void(first)
        again = await ring_up(checkout, "pix", pastel=2)  # exposure was given back by the void
        assert (await checkout.confirm(again)).accepted

    asyncio.run(scenario())
    assert rows(box, "SELECT stock FROM items WHERE sku = 'pastel'") == [(8,)]
    assert verify_state(box.state_dir).count == 4


def test_refused_transitions_change_nothing(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> None:
        order = await checkout.create_order()
        with pytest.raises(OrderError, match="no lines"):
            await checkout.choose_tender(order.id, "cash")
        with pytest.raises(TransitionRefused):
            await checkout.confirm(order.id)
        paid = await ring_up(checkout, pastel=1)
        await checkout.confirm(paid)
        before = rows(box, "SELECT * FROM orders ORDER BY id") + rows(box, "SELECT * FROM items")
        for attempt in (
            checkout.confirm(paid),
            checkout.cancel(paid),
            checkout.add_line(paid, "coffee"),
        ):
            with pytest.raises(TransitionRefused):
                await attempt
        assert (
            rows(box, "SELECT * FROM orders ORDER BY id") + rows(box, "SELECT * FROM items")
            == before
        )

    asyncio.run(scenario())


def test_orders_waiting_past_the_hold_expire(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock, hold=timedelta(minutes=15))

    async def scenario() -> None:
        old = await ring_up(checkout, coffee=1)
        clock.advance(minutes=10)
        young = await ring_up(checkout, coffee=1)
        assert await checkout.expire_due() == []
        clock.advance(minutes=6)
        assert await checkout.expire_due() == [old]
        assert (await checkout.get_order(old)).state is OrderState.EXPIRED
        assert (await checkout.get_order(young)).state is OrderState.AWAITING_PAYMENT
        with pytest.raises(TransitionRefused):
            await checkout.confirm(old)

    asyncio.run(scenario())


def test_the_daily_close_sums_since_the_last_close(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> tuple[Any, Any]:
        a = await ring_up(checkout, pastel=1)
        await checkout.confirm(a)
        b = await ring_up(checkout, coffee=2)
        await checkout.confirm(b)
        await checkout.void(a)
        first = await checkout.close_day()
        c = await ring_up(checkout, coffee=1)
        await checkout.confirm(c)
        return first, await checkout.close_day()

    first, second = asyncio.run(scenario())
    items = dict(rows(box, "SELECT seq, items FROM receipts"))
    assert json.loads(items[first.seq]) == {
        "from_seq": 0, "to_seq": 3, "sales": 2, "gross": 2150, "voids": 1, "voided": 950,
    }  # fmt: skip
    assert json.loads(items[second.seq])["from_seq"] == first.seq + 1
    assert second.total == 600


def test_64_concurrent_confirmations_for_10_units_sell_exactly_10(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> list[object]:
        ids = [await ring_up(checkout, pastel=1) for _ in range(64)]
        return await asyncio.gather(*(checkout.confirm(i) for i in ids), return_exceptions=True)

    commits_before = box.writer.commits
    outcomes = asyncio.run(scenario())
    sold = [o for o in outcomes if not isinstance(o, BaseException)]
    out_of_stock = [o for o in outcomes if isinstance(o, OutOfStock)]
    assert len(sold) == 10 and len(out_of_stock) == 54
    assert rows(box, "SELECT stock FROM items WHERE sku = 'pastel'") == [(0,)]
    assert rows(box, "SELECT count(*) FROM orders WHERE state = 'paid'") == [(10,)]
    assert rows(box, "SELECT count(*) FROM receipts WHERE kind = 'sale'") == [(10,)]
    assert box.writer.commits - commits_before < 64 + 64 * 3  # confirmations shared commits
    summary = verify_state(box.state_dir)
    assert summary.count == 11


def test_concurrent_confirmations_share_commits(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> int:
        ids = [await ring_up(checkout, coffee=1) for _ in range(32)]
        before = box.writer.commits
        await asyncio.gather(*(checkout.confirm(i) for i in ids))
        return box.writer.commits - before

    assert asyncio.run(scenario()) < 32


def test_the_stored_chain_verifies_with_items(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> None:
        for _ in range(5):
            await checkout.confirm(await ring_up(checkout, pastel=1, coffee=2))

    asyncio.run(scenario())
    stored = box.writer.run_sync(lambda conn: list(ledger_sql.iter_receipts(conn)))
    verify_chain(
        [r.line for r in stored], box.key.public, items={r.seq: json.loads(r.items) for r in stored}
    )
    conn = sqlite3.connect(box.writer.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_an_order_with_a_bad_line_stores_nothing(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)
    before = rows(box, "SELECT count(*) FROM orders")

    async def scenario() -> None:
        with pytest.raises(CatalogError, match="no item with sku 'nope'"):
            await checkout.place_order([("coffee", 1), ("nope", 1)], "cash")
        with pytest.raises(CatalogError, match="no item with sku 'nope'"):
            await checkout.create_order(lines=[("coffee", 1), ("nope", 1)])
        placed = await checkout.place_order([("coffee", 2)], "cash", note="no sugar")
        assert placed.order.state is OrderState.AWAITING_PAYMENT and placed.reference == "001Y"
        assert (await checkout.confirm(placed.order.id)).accepted

    asyncio.run(scenario())
    assert rows(box, "SELECT count(*) FROM orders")[0][0] == before[0][0] + 1


def test_order_ids_are_unguessable_and_sort_in_the_order_made(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> list[tuple[int, str]]:
        orders = [await checkout.create_order() for _ in range(40)]
        return [(order.number, order.id) for order in orders]

    made = asyncio.run(scenario())
    ids = [order_id for _, order_id in made]
    assert ids == sorted(ids)  # new ids land at the right edge of every index on them
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    assert [int(i[:8], 16) for i in ids] == [number for number, _ in made]
    assert len({i[8:] for i in ids}) == len(ids)  # 64 random bits each
