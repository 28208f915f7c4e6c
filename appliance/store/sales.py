"""Paid sales as reconciliation reads them: one row per paid order tendered on a payment rail.

The amount and time are the signed receipt's (what the console showed as sold), not the
order's, whose updated_at moves when it is later marked ready.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


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
