"""SQL for funnel counts per minute: what the node keeps for the cloud's analytics.

The node folds its in-memory funnel (appliance/api/funnel.py) into one row per minute once a
minute, in the same small transaction as its live-minute count, so a sale never waits for it.
The minute's conversion latencies (first view -> paid) go into the same row as a histogram
(appliance/ledger/figures.py), merged with what the row had: the cloud merges the same way.
The table is bounded (FUNNEL_DAYS) and the sync daemon ships it only after every receipt:
analytics may be late or lost under pressure, receipts never.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.ledger.figures import Latencies, merge

FUNNEL_DAYS = 7
STEPS = ("menu", "cart", "order", "paid")


@dataclass(frozen=True, slots=True)
class FunnelMinute:
    """The funnel counts of one UTC minute (`YYYY-MM-DDTHH:MM`)."""

    minute: str
    menu: int
    cart: int
    order: int
    paid: int
    conversion: Latencies | None = None  # None: no latency measured in the minute


def minute_of(at: datetime) -> str:
    """Return the minute key of a UTC time."""
    return at.strftime("%Y-%m-%dT%H:%M")


def add_counts(
    conn: sqlite3.Connection,
    at: datetime,
    counts: Mapping[str, int],
    latencies: Latencies | None = None,
) -> None:
    """Add step counts (and conversion latencies) to the row of `at`'s minute, and drop rows
    older than FUNNEL_DAYS."""
    menu, cart, order, paid = (int(counts.get(step, 0)) for step in STEPS)
    minute = minute_of(at)
    if menu or cart or order or paid:
        conn.execute(
            "INSERT INTO funnel_minutes (minute, menu, cart, ordered, paid) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (minute) DO UPDATE SET menu = menu + excluded.menu,"
            " cart = cart + excluded.cart, ordered = ordered + excluded.ordered,"
            " paid = paid + excluded.paid",
            (minute, menu, cart, order, paid),
        )
    if latencies is not None and latencies.count:  # each one came with a paid step: a row is there
        row = conn.execute(
            "SELECT conversion, conversion_sum_ms FROM funnel_minutes WHERE minute = ?", (minute,)
        ).fetchone()
        had = _latencies(row[0], row[1]) if row else None
        both = merge([latencies] if had is None else [had, latencies])
        conn.execute(
            "UPDATE funnel_minutes SET conversion = ?, conversion_sum_ms = ? WHERE minute = ?",
            (both.text(), both.sum_ms, minute),
        )
    conn.execute(
        "DELETE FROM funnel_minutes WHERE minute < ?",
        (minute_of(at - timedelta(days=FUNNEL_DAYS)),),
    )


def unsent(conn: sqlite3.Connection, limit: int) -> list[FunnelMinute]:
    """Return the minutes the cloud lacks, oldest first, up to `limit`.

    The last minute sent comes again: the node may have added to it since (the cloud replaces a
    minute it already has, so a repeat is harmless).
    """
    rows = conn.execute(
        "SELECT minute, menu, cart, ordered, paid, conversion, conversion_sum_ms FROM funnel_minutes"
        " WHERE minute >= coalesce((SELECT funnel_sent FROM sync_state WHERE id = 1), '')"
        " ORDER BY minute LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        FunnelMinute(minute, menu, cart, order, paid, _latencies(text, sum_ms))
        for minute, menu, cart, order, paid, text, sum_ms in rows
    ]


def _latencies(text: str | None, sum_ms: int) -> Latencies | None:
    """A row's histogram; None if it has none (or, never expected, one that does not parse)."""
    if text is None:
        return None
    try:
        return Latencies.parse(text, sum_ms)
    except ValueError:
        return None  # analytics: a bad row is dropped from the figure, never in a sale's way
