"""SQL of the passes this box sold: one row per pass issued, keyed by its order (append-only)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IssuedPass:
    """A pass this box issued for a paid order: its QR text and what sold it."""

    order_id: str
    idx: int  # 0.. per order: one pass per unit of a pass product
    sku: str
    pass_id: str
    holder: str
    text: str
    issued_at: str  # ISO 8601, UTC


def issued_for(conn: sqlite3.Connection, order_id: str) -> list[IssuedPass]:
    """The passes issued for an order, in the order they were issued."""
    rows = conn.execute(
        "SELECT order_id, idx, sku, pass_id, holder, text, issued_at FROM pass_sales"
        " WHERE order_id = ? ORDER BY idx",
        (order_id,),
    ).fetchall()
    return [IssuedPass(str(r[0]), int(r[1]), *(str(v) for v in r[2:])) for r in rows]


def insert_issued(conn: sqlite3.Connection, issued: IssuedPass) -> None:
    """Store one issued pass (inside the transaction that marks its order paid)."""
    conn.execute(
        "INSERT INTO pass_sales (order_id, idx, sku, pass_id, holder, text, issued_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (issued.order_id, issued.idx, issued.sku, issued.pass_id, issued.holder, issued.text,
         issued.issued_at),
    )  # fmt: skip
