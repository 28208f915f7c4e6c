"""The confirm path's statements (store/sales.py): few, and the same outcomes as before.

A confirm reads the order, its lines, a drop claim's flag, the tender's decision, the items'
stock and the chain head in one statement; these tests hold the count, and check the paths
that leave it (a refusal, an unknown order or sku, a head gone stale) still answer as before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest
from services_support import T0, Clock

from appliance.domain.errors import OutOfStock
from appliance.domain.money import Money
from appliance.domain.orders import Line, OrderState
from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.ledger_files import verify_state
from appliance.store import ledger as ledger_sql
from appliance.store import sales as sales_sql
from appliance.store.errors import NotFound


async def ring_up(checkout: Checkout, **lines: int) -> str:
    order = await checkout.create_order()
    for sku, qty in lines.items():
        await checkout.add_line(order.id, sku, qty)
    await checkout.choose_tender(order.id, "cash")
    return order.id


def statements_of_confirm(box: Box, checkout: Checkout, **lines: int) -> list[str]:
    async def scenario() -> list[str]:
        order_id = await ring_up(checkout, **lines)
        seen: list[str] = []
        box.writer._conn.set_trace_callback(seen.append)
        try:
            done = await checkout.confirm(order_id)
        finally:
            box.writer._conn.set_trace_callback(None)
        assert done.accepted
        return seen

    return asyncio.run(scenario())


def test_a_cash_sale_is_one_read_and_one_write_per_table(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)
    unlimited = statements_of_confirm(box, checkout, coffee=2)
    assert [s.split()[0] for s in unlimited] == ["BEGIN", "SELECT", "INSERT", "UPDATE", "COMMIT"]
    stocked = statements_of_confirm(box, checkout, pastel=1, coffee=1)
    assert len(stocked) == 6 and sum("UPDATE items" in s for s in stocked) == 1
    stock = box.writer.run_sync(
        lambda conn: conn.execute("SELECT stock FROM items WHERE sku = 'pastel'").fetchone()[0]
    )
    assert stock == 9
    assert verify_state(box.state_dir).count == 3


def test_a_line_short_of_stock_takes_nothing_and_names_its_sku(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)
    box.writer.run_sync(
        lambda conn: conn.execute("INSERT INTO items VALUES ('zine', 'Zine', 300, 'BRL', 1, 1)")
    )

    async def scenario() -> str:
        order_id = await ring_up(checkout, pastel=2, zine=2)
        with pytest.raises(OutOfStock, match="zine: 2 wanted, 1 left"):
            await checkout.confirm(order_id)
        return order_id

    order_id = asyncio.run(scenario())
    stock = box.writer.run_sync(lambda conn: dict(conn.execute("SELECT sku, stock FROM items")))
    assert stock == {"pastel": 10, "coffee": None, "zine": 1}
    order = asyncio.run(checkout.get_order(order_id))
    assert order.state is OrderState.AWAITING_PAYMENT


def test_a_sku_the_catalogue_lacks_gives_back_what_the_statement_took(box: Box) -> None:
    lines = [
        Line("pastel", "Pastel", Money(950, "BRL"), 2),
        Line("zz-gone", "Gone", Money(1, "BRL"), 1),
    ]

    def tx(conn: sqlite3.Connection) -> int:
        with pytest.raises(NotFound, match="zz-gone"):
            sales_sql.take_stock(conn, lines)
        return int(conn.execute("SELECT stock FROM items WHERE sku = 'pastel'").fetchone()[0])

    assert box.writer.run_sync(tx) == 8  # taken once (the rollback is the caller's), not twice


def test_an_unknown_order_is_not_found(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)
    with pytest.raises(NotFound, match="no order 'nope'"):
        asyncio.run(checkout.confirm("nope"))


def test_a_head_gone_stale_fails_the_insert_and_never_forks(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> None:
        order_id = await ring_up(checkout, coffee=1)
        stale = await box.writer.run(lambda conn: sales_sql.to_confirm(conn, order_id, "cash"))
        assert stale is not None
        await checkout.close_day()  # a receipt after the head was read
        with pytest.raises(sqlite3.IntegrityError):
            await box.writer.run(
                lambda conn: box.append(
                    conn, kind=ReceiptType.CLOSE, at=T0 + timedelta(seconds=1), total=0, items={},
                    head=stale.head,
                )
            )  # fmt: skip
        await checkout.confirm(order_id)  # reads the head afresh

    asyncio.run(scenario())
    assert verify_state(box.state_dir).count == 3
    head = box.writer.run_sync(ledger_sql.chain_head)
    assert head.next_seq == 3
