"""SQL for the numbers: sales, revenue, decisions and the outbox, from the ledger itself."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.store.ledger import outbox


@dataclass(frozen=True, slots=True)
class Figures:
    """Totals the stats endpoint and the console show."""

    sales: int
    revenue: int  # sales minus voids, minor units
    decisions: int
    edge_decisions: int
    outbox_depth: int
    oldest_unsynced_s: float | None


def outbox_age(conn: sqlite3.Connection) -> tuple[int, float | None]:
    """Receipts waiting for the cloud, and how many seconds the oldest of them has waited."""
    depth, oldest = outbox(conn)
    if oldest is None:
        return depth, None
    return depth, max(0.0, (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds())


def figures(conn: sqlite3.Connection) -> Figures:
    """Count sales and revenue from the receipts, decisions, and what waits for the cloud."""
    sales, gross = conn.execute(
        "SELECT count(*), coalesce(sum(total), 0) FROM receipts WHERE kind = 'sale'"
    ).fetchone()
    voided = conn.execute(
        "SELECT coalesce(sum(total), 0) FROM receipts WHERE kind = 'void'"
    ).fetchone()[0]
    decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    depth, age = outbox_age(conn)
    return Figures(
        int(sales), int(gross) - int(voided), int(decisions), int(decisions), int(depth), age
    )
