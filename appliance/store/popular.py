"""SQL for what the box itself sold lately: the menu's "popular right now" (services/popular.py)."""

from __future__ import annotations

import sqlite3


def sold_since(conn: sqlite3.Connection, since: str, limit: int) -> list[tuple[str, int]]:
    """(sku, units) sold since the ISO time `since` in sales still standing, most sold first.

    Sale receipts are found by time through `receipts_by_kind_time`; a voided order is no longer
    'paid', so its lines do not count.
    """
    rows = conn.execute(
        "SELECT l.sku, SUM(l.qty) AS units FROM receipts r"
        " JOIN orders o ON o.id = r.order_id"
        " JOIN order_lines l ON l.order_id = r.order_id"
        " WHERE r.kind = 'sale' AND r.created_at >= ? AND o.state = 'paid'"
        " GROUP BY l.sku ORDER BY units DESC, l.sku LIMIT ?",
        (since, limit),
    ).fetchall()
    return [(str(sku), int(units)) for sku, units in rows]
