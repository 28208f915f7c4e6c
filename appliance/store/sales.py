"""SQL for a sale: what a confirm reads and writes, in one statement per table; and paid sales
as reconciliation reads them.

A confirm used to ask five queries before it could decide anything (the order, its lines, its
discounts, a drop claim, the tender's decision) and wrote the order back whole. `to_confirm`
reads all of that in one statement, `take_stock` takes every line's units in one, and `mark_paid`
writes only what paying changes. bench/ledger.py measures the difference
(docs/performance/2026-12-05-sale-confirm-one-statement-per-table.md).

For reconciliation: one row per paid order tendered on a payment rail. The amount and time are
the signed receipt's (what the console showed as sold), not the order's, whose updated_at moves
when it is later marked ready.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from appliance.domain.money import Money
from appliance.domain.orders import Line, Order
from appliance.domain.policy import Decision, Verdict
from appliance.ledger.chain import ChainHead
from appliance.store import orders as orders_sql
from appliance.store.ledger import head_after


@dataclass(frozen=True, slots=True)
class ToConfirm:
    """An order as a confirm needs it: with its lines, whether a drop claim holds its units, the
    standing acceptance recorded at its tender (None: an older box decided nothing then), the
    receipt chain's head with its last time, for the sale's receipt (Box.append's `head`), and
    the lines' skus whose stock is unlimited (nothing to take: `take_stock` skips them)."""

    order: Order
    claimed: bool
    decision: Decision | None
    head: tuple[ChainHead, datetime | None]
    unlimited: frozenset[str]


# One row per line (the order's columns repeated), the discounts and the claim as flags (rare:
# read by their own functions then), the tender's standing acceptance and the chain's last
# receipt (a lookup of the largest rowid) joined in. The
# decisions index is named: with only the schema's statistics SQLite picks (rail, settled), and
# walks every unsettled acceptance of the rail, each confirm slower than the one before.
_TO_CONFIRM = """
SELECT o.id, o.number, o.currency, o.state, o.created_at, o.tender, o.reference, o.note,
       o.ready_at,
       EXISTS (SELECT 1 FROM order_discounts WHERE order_id = o.id),
       EXISTS (SELECT 1 FROM drop_claims WHERE order_id = o.id),
       d.rail, d.amount, d.currency, d.verdict, d.reason, d.at, d.operator,
       r.seq, r.line,
       l.sku, l.name, l.unit_price, l.qty, i.stock IS NULL AND i.sku IS NOT NULL
FROM orders AS o
LEFT JOIN decisions AS d ON d.id = (
    SELECT id FROM decisions INDEXED BY decisions_by_order
    WHERE order_id = o.id AND rail = coalesce(nullif(o.tender, ''), ?) AND settled = 0
      AND verdict IN ('accept', 'override')
    ORDER BY id DESC LIMIT 1)
LEFT JOIN receipts AS r ON r.seq = (SELECT max(seq) FROM receipts)
LEFT JOIN order_lines AS l ON l.order_id = o.id
LEFT JOIN items AS i ON i.sku = l.sku
WHERE o.id = ?
ORDER BY l.sku
"""


def to_confirm(conn: sqlite3.Connection, order_id: str, cash: str) -> ToConfirm | None:
    """The order to confirm, read in one statement; None when no order row has this id.

    `cash` is the tender of an order that names none. None leaves the caller to ask
    orders.load_order, which says what is missing (NotFound) or builds what may be.
    """
    rows = conn.execute(_TO_CONFIRM, (cash, order_id)).fetchall()
    if not rows:
        return None
    first = rows[0]
    if first[9]:  # a pass took money off: the order with its discounts, the usual way
        order = orders_sql.load_order(conn, first[0])
    else:
        lines = (row[20:24] for row in rows if row[20] is not None)
        order = orders_sql.order_from_row(first[:9], lines)
    decision = None
    if first[11] is not None:
        rail, amount, money, verdict, reason, at, operator = first[11:18]
        decision = Decision(
            rail, Money(amount, money), Verdict(verdict), reason, datetime.fromisoformat(at),
            operator,
        )  # fmt: skip
    unlimited = frozenset(row[20] for row in rows if row[24])
    return ToConfirm(order, bool(first[10]), decision, head_after(first[18], first[19]), unlimited)


def take_stock(
    conn: sqlite3.Connection, lines: Sequence[Line], unlimited: frozenset[str] = frozenset()
) -> None:
    """Take every line's units in one statement; as orders.take_stock, nothing taken on refusal.

    OutOfStock or NotFound names the first line that cannot be taken (sku order). Lines of
    `unlimited` skus (read in this transaction: no stock to take) are left out: no statement,
    and no page of the items table to write at the commit.
    """
    lines = [line for line in lines if line.sku not in unlimited]
    if len(lines) <= 1:
        for line in lines:
            orders_sql.take_stock(conn, line.sku, line.qty)
        return
    cases = " ".join("WHEN ? THEN ?" for _ in lines)
    marks = ",".join("?" * len(lines))
    params = [value for line in lines for value in (line.sku, line.qty)]
    params += [line.sku for line in lines]
    try:  # unlimited stock (NULL) stays NULL; CHECK (stock >= 0) refuses the whole statement
        taken = conn.execute(
            f"UPDATE items SET stock = stock - CASE sku {cases} END WHERE sku IN ({marks})",  # noqa: S608
            params,
        ).rowcount
    except sqlite3.IntegrityError:  # some line wants more than is left: nothing was taken
        taken = 0
    if taken == len(lines):
        return
    if taken:  # a sku the catalogue does not hold: give back what was taken
        conn.execute(
            f"UPDATE items SET stock = stock + CASE sku {cases} END WHERE sku IN ({marks})",  # noqa: S608
            params,
        )
    for line in lines:  # one at a time, for the error that names the line
        orders_sql.take_stock(conn, line.sku, line.qty)


def mark_paid(
    conn: sqlite3.Connection,
    order: Order,
    at: datetime,
    receipt_seq: int,
    cash_received: int | None,
) -> None:
    """Write what paying changes: the state, the time, the sale's receipt and the cash handed over."""
    conn.execute(
        "UPDATE orders SET state = ?, updated_at = ?, receipt_seq = ?, cash_received = ?"
        " WHERE id = ?",
        (order.state.value, at.isoformat(), receipt_seq, cash_received, order.id),
    )


@dataclass(frozen=True, slots=True)
class PaidOnRail:
    """One paid order on a rail: id, reference, rail, currency, receipt total and time."""

    order_id: str
    reference: str
    rail: str
    currency: str
    total: int
    at: str


def paid_on_rails(conn: sqlite3.Connection) -> list[PaidOnRail]:
    """Every paid, unvoided order tendered on a rail other than cash, in order number."""
    rows = conn.execute(
        "SELECT o.id, coalesce(o.reference, ''), o.tender, o.currency, r.total, r.created_at"
        " FROM orders o JOIN receipts r ON r.seq = o.receipt_seq"
        " WHERE o.state = 'paid' AND o.tender IS NOT NULL AND o.tender != 'cash'"
        " ORDER BY o.number"
    )
    return [PaidOnRail(*row) for row in rows]
