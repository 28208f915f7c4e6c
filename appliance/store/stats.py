"""SQL for the numbers: sales, revenue, decisions and the outbox, from the ledger itself."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.store.flags import count_decisions
from appliance.store.ledger import outbox


@dataclass(frozen=True, slots=True)
class Figures:
    """Totals the stats endpoint and the console show."""

    sales: int  # sales not voided (one definition everywhere: a voided sale is not a sale)
    revenue: int  # what those sales took, minor units
    decisions: int
    edge_decisions: int
    outbox_depth: int
    oldest_unsynced_s: float | None
    voided: int = 0  # sales voided, shown beside the figures, never inside them
    voided_revenue: int = 0


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
    voided, voided_total = conn.execute(
        "SELECT count(*), coalesce(sum(total), 0) FROM receipts WHERE kind = 'void'"
    ).fetchone()
    decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
    decisions += count_decisions(conn)  # the canary judge's, taken on the box too (docs/flags.md)
    depth, age = outbox_age(conn)
    return Figures(
        sales=int(sales) - int(voided),
        revenue=int(gross) - int(voided_total),
        decisions=int(decisions),
        edge_decisions=int(decisions),
        outbox_depth=int(depth),
        oldest_unsynced_s=age,
        voided=int(voided),
        voided_revenue=int(voided_total),
    )
