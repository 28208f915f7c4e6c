"""SQL for the catalogue, orders, their lines and the offline-policy decisions.

Functions take a sqlite3 connection; write functions must run inside the writer's transaction.
Rows are turned into domain objects here and nowhere else.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from appliance.domain.catalog import Item
from appliance.domain.errors import CatalogError, OutOfStock
from appliance.domain.money import Money
from appliance.domain.orders import Discount, Line, Order, OrderState
from appliance.domain.policy import Decision, Verdict
from appliance.store import drops as drops_sql
from appliance.store.errors import NotFound

_ORDER_COLUMNS = "id, number, currency, state, created_at, tender, reference, note, ready_at"


def sync_catalog(conn: sqlite3.Connection, items: Iterable[Item]) -> None:
    """Make the configured items the active catalogue; stock is set only for new items."""
    skus = []
    for item in items:
        skus.append(item.sku)
        conn.execute(
            "INSERT INTO items (sku, name, price, currency, stock, active) VALUES (?, ?, ?, ?, ?, 1)"
            " ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price = excluded.price,"
            " currency = excluded.currency, active = 1",
            (item.sku, item.name, item.price.minor, item.price.currency, item.stock),
        )
    marks = ",".join("?" * len(skus))
    conn.execute(f"UPDATE items SET active = 0 WHERE sku NOT IN ({marks})", skus)  # noqa: S608


def _item(row: tuple[str, str, int, str, int | None]) -> Item:
    sku, name, price, currency, stock = row
    return Item(sku, name, Money(price, currency), stock)


def list_items(conn: sqlite3.Connection) -> list[Item]:
    """Return the active catalogue in sku order."""
    rows = conn.execute(
        "SELECT sku, name, price, currency, stock FROM items WHERE active = 1 ORDER BY sku"
    ).fetchall()
    return [_item(row) for row in rows]


def load_item(conn: sqlite3.Connection, sku: str) -> Item:
    """Return one active item; raise CatalogError (409, field sku) for an unknown or retired sku.

    Not a 404: the URL's resource (an order, a drop) exists; it is the body that names an item
    the catalogue does not sell.
    """
    row = conn.execute(
        "SELECT sku, name, price, currency, stock FROM items WHERE sku = ? AND active = 1", (sku,)
    ).fetchone()
    if row is None:
        raise CatalogError(f"no item with sku {sku!r}", "sku")
    return _item(row)


def take_stock(conn: sqlite3.Connection, sku: str, qty: int) -> None:
    """Decrement stock in one statement; raise OutOfStock (changing nothing) if too few are left."""
    taken = conn.execute(
        "UPDATE items SET stock = stock - ? WHERE sku = ? AND (stock IS NULL OR stock >= ?)",
        (qty, sku, qty),
    ).rowcount  # stock NULL (unlimited) stays NULL: NULL - qty is NULL
    if taken:
        return
    row = conn.execute("SELECT stock FROM items WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        raise NotFound(f"no item with sku {sku!r}")
    raise OutOfStock(f"{sku}: {qty} wanted, {row[0]} left")


def return_stock(conn: sqlite3.Connection, sku: str, qty: int) -> None:
    """Give units back (a void); unlimited items are left alone."""
    conn.execute(
        "UPDATE items SET stock = stock + ? WHERE sku = ? AND stock IS NOT NULL", (qty, sku)
    )


def next_order_number(conn: sqlite3.Connection) -> int:
    """Return the next per-device order number (1, 2, ...).

    A drop claim takes its order's number before the order is built (store/drops.py), and
    numbers are taken in commit order, so the last claim's number is the highest claims hold.
    """
    return int(
        conn.execute(
            "SELECT max(coalesce((SELECT max(number) FROM orders), 0),"
            " coalesce((SELECT number FROM drop_claims WHERE id = (SELECT max(id) FROM drop_claims)), 0)) + 1"
        ).fetchone()[0]
    )


def insert_order(conn: sqlite3.Connection, order: Order) -> None:
    """Insert a new order and its lines."""
    conn.execute(
        "INSERT INTO orders (id, number, state, currency, tender, reference, note, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order.id, order.number, order.state.value, order.currency, order.tender,
            order.reference, order.note, order.created_at.isoformat(), order.created_at.isoformat(),
        ),
    )  # fmt: skip
    _insert_lines(conn, order)


def update_order(
    conn: sqlite3.Connection, order: Order, at: datetime, **columns: str | int | None
) -> None:
    """Write an order's state, tender, reference and note, plus the bookkeeping columns given."""
    assert set(columns) <= {"receipt_seq", "void_seq", "cash_received"}
    extra = "".join(f", {name} = ?" for name in columns)
    conn.execute(
        "UPDATE orders SET state = ?, tender = ?, reference = ?, note = ?, ready_at = ?,"  # noqa: S608
        f" updated_at = ?{extra} WHERE id = ?",
        (order.state.value, order.tender, order.reference, order.note,
         None if order.ready_at is None else order.ready_at.isoformat(), at.isoformat(),
         *columns.values(), order.id),
    )  # fmt: skip


def replace_lines(conn: sqlite3.Connection, order: Order) -> None:
    """Make the stored lines (and discounts) of an open order equal to its own."""
    conn.execute("DELETE FROM order_lines WHERE order_id = ?", (order.id,))
    conn.execute("DELETE FROM order_discounts WHERE order_id = ?", (order.id,))
    _insert_lines(conn, order)


def _insert_lines(conn: sqlite3.Connection, order: Order) -> None:
    conn.executemany(
        "INSERT INTO order_lines (order_id, sku, name, unit_price, qty) VALUES (?, ?, ?, ?, ?)",
        [(order.id, ln.sku, ln.name, ln.unit_price.minor, ln.qty) for ln in order.lines],
    )
    if order.discounts:
        conn.executemany(
            "INSERT INTO order_discounts (order_id, sku, name, amount, pass_id, redeemed, period)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (order.id, d.sku, d.name, d.amount.minor, d.pass_id, d.redeemed, d.period)
                for d in order.discounts
            ],
        )


def _discounts(conn: sqlite3.Connection, order_id: str, currency: str) -> tuple[Discount, ...]:
    return tuple(
        Discount(sku, name, Money(amount, currency), pass_id, redeemed, period)
        for sku, name, amount, pass_id, redeemed, period in conn.execute(
            "SELECT sku, name, amount, pass_id, redeemed, period FROM order_discounts"
            " WHERE order_id = ? ORDER BY sku",
            (order_id,),
        )
    )


def redeemed(conn: sqlite3.Connection, pass_id: str, period: str) -> int:
    """Allowance units of a pass redeemed in a period by orders still standing (not given up)."""
    row = conn.execute(
        "SELECT coalesce(sum(d.redeemed), 0) FROM order_discounts AS d JOIN orders AS o"
        " ON o.id = d.order_id WHERE d.pass_id = ? AND d.period = ?"
        " AND o.state IN ('open', 'awaiting_payment', 'paid')",
        (pass_id, period),
    ).fetchone()
    return int(row[0])


def load_order(conn: sqlite3.Connection, order_id: str) -> Order:
    """Return one order with its lines; raise NotFound for an unknown id."""
    row = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ?",  # noqa: S608
        (order_id,),
    ).fetchone()
    if row is None:
        if not drops_sql.build_claimed_order(conn, order_id):
            raise NotFound(f"no order {order_id!r}")
        return load_order(conn, order_id)  # a drop claim's order, built now
    oid, currency = row[0], row[2]
    lines = conn.execute(
        "SELECT sku, name, unit_price, qty FROM order_lines WHERE order_id = ? ORDER BY sku",
        (oid,),
    ).fetchall()
    return order_from_row(row, lines, _discounts(conn, oid, currency))


def order_from_row(
    row: Sequence[Any], lines: Iterable[Sequence[Any]], discounts: tuple[Discount, ...] = ()
) -> Order:
    """An order from its `_ORDER_COLUMNS` and its lines' (sku, name, unit_price, qty) rows."""
    oid, number, currency, state, created, tender, reference, note, ready = row
    # Positional, a list for the lines, a dict for the state: on every confirm's read.
    return Order(
        oid, int(number), currency, _STATES.get(state) or OrderState(state),
        tuple([Line(sku, name, Money(unit, currency), qty) for sku, name, unit, qty in lines]),
        datetime.fromisoformat(created), tender, reference or "", note,
        None if ready is None else datetime.fromisoformat(ready), discounts,
    )  # fmt: skip


_STATES = {state.value: state for state in OrderState}  # OrderState(...) raises for the rest


def order_column(conn: sqlite3.Connection, order_id: str, column: str) -> object:
    """Return one bookkeeping column of an order (receipt_seq, void_seq, updated_at, cash_received)."""
    assert column in {"receipt_seq", "void_seq", "updated_at", "cash_received"}
    row = conn.execute(f"SELECT {column} FROM orders WHERE id = ?", (order_id,)).fetchone()  # noqa: S608
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    return row[0]


def waiting_since(conn: sqlite3.Connection, cutoff: datetime) -> list[tuple[str, str]]:
    """(id, updated_at) of orders waiting for payment since `cutoff` or earlier, drop claims aside.

    Only the due orders are read (orders_by_state index), so the once-a-second sweep stays cheap
    however many orders are waiting; a drop claim expires by its drop's hold instead.
    """
    return [
        (str(oid), str(updated))
        for oid, updated in conn.execute(
            "SELECT id, updated_at FROM orders WHERE state = 'awaiting_payment' AND updated_at <= ?"
            " AND id NOT IN (SELECT order_id FROM drop_claims) ORDER BY updated_at",
            (cutoff.isoformat(),),
        )
    ]


def record_decision(conn: sqlite3.Connection, decision: Decision, order_id: str | None) -> int:
    """Record an offline-policy decision with its reason; return its id."""
    cursor = conn.execute(
        "INSERT INTO decisions (at, order_id, rail, amount, currency, verdict, reason, operator)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            decision.at.isoformat(), order_id, decision.rail, decision.amount.minor,
            decision.amount.currency, decision.verdict.value, decision.reason, decision.operator,
        ),
    )  # fmt: skip
    return int(cursor.lastrowid or 0)


def outstanding(
    conn: sqlite3.Connection, rail: str, currency: str, exclude_order: str | None = None
) -> Money:
    """Return the unsettled amount accepted on `rail` (the policy's exposure), one order aside.

    An acceptance counts from the tender on: the payer was invited to pay it.
    """
    row = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM decisions"
        " WHERE rail = ? AND currency = ? AND settled = 0 AND verdict IN ('accept', 'override')"
        " AND order_id IS NOT ?",
        (rail, currency, exclude_order),
    ).fetchone()
    return Money(int(row[0]), currency)


def tender_decision(conn: sqlite3.Connection, order_id: str, rail: str) -> Decision | None:
    """The standing acceptance recorded when `order_id` was tendered on `rail`, if any."""
    row = conn.execute(
        "SELECT rail, amount, currency, verdict, reason, at, operator FROM decisions"
        " INDEXED BY decisions_by_order"  # not (rail, settled): every unsettled one of the rail
        " WHERE order_id = ? AND rail = ? AND settled = 0 AND verdict IN ('accept', 'override')"
        " ORDER BY id DESC LIMIT 1",
        (order_id, rail),
    ).fetchone()
    return None if row is None else _decision(row)


def settle_order_decisions(conn: sqlite3.Connection, order_id: str) -> None:
    """Stop counting an order's accepted payment as exposure (it was voided or reconciled)."""
    conn.execute("UPDATE decisions SET settled = 1 WHERE order_id = ?", (order_id,))


def orders_by_state(conn: sqlite3.Connection, state: OrderState, limit: int = 200) -> list[Order]:
    """Orders in `state`, oldest change first."""
    ids = conn.execute(
        "SELECT id FROM orders WHERE state = ? ORDER BY updated_at LIMIT ?", (state.value, limit)
    ).fetchall()
    return [load_order(conn, str(row[0])) for row in ids]


def recent_decisions(conn: sqlite3.Connection, limit: int) -> list[Decision]:
    """The latest policy decisions, newest first."""
    rows = conn.execute(
        "SELECT rail, amount, currency, verdict, reason, at, operator FROM decisions"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [_decision(row) for row in rows]


def _decision(row: tuple[str, int, str, str, str, str, str | None]) -> Decision:
    rail, amount, currency, verdict, reason, at, operator = row
    return Decision(
        rail,
        Money(amount, currency),
        Verdict(verdict),
        reason,
        datetime.fromisoformat(at),
        operator,
    )
