"""The node's own bookkeeping in the database: the catalogue at start, the outbox count, the
open minutes and the funnel's counts, the one-row write that sees a full disk freed, and the
WAL's checkpoints.

The node's background tasks (appliance/api/node.py) call these; the SQL is in
appliance/store/orders.py, ledger.py and funnel.py (DESIGN §7: the node and its handlers
reach the store through services).
"""

from __future__ import annotations

import collections
import functools
import sqlite3
from datetime import datetime

from appliance.domain.catalog import Item
from appliance.ledger.figures import Latencies
from appliance.services.box import Box
from appliance.store import funnel as funnel_sql
from appliance.store import ledger as ledger_sql
from appliance.store.checkpoint import Checkpointer
from appliance.store.orders import sync_catalog

LIVE_MINUTES = "live_minutes"
STORAGE_PROBE = "storage_probe"


def checkpointer(box: Box) -> Checkpointer:
    """The node's WAL checkpoints, taken off the loop (appliance/store/checkpoint.py says why)."""
    return Checkpointer(box.writer)


async def load_catalog(box: Box, catalog: tuple[Item, ...]) -> None:
    """Bring the stored catalogue in line with the config's (an item's stock only at first)."""
    await box.writer.run(lambda conn: sync_catalog(conn, catalog))


async def outbox_depth(box: Box) -> int:
    """How many receipts wait for the sync daemon."""
    return await box.writer.read(ledger_sql.outbox_depth)


async def probe_write(box: Box, now: datetime) -> None:
    """One small write: it succeeds, and clears the writer's full state, once there is room."""
    probe = functools.partial(ledger_sql.set_meta, key=STORAGE_PROBE, value=str(now))
    await box.writer.run_off_loop(probe)


async def stored_live_minutes(box: Box) -> str | None:
    """The open minutes recorded so far (as stored), or None before the first."""
    return await box.writer.read(lambda conn: ledger_sql.get_meta(conn, LIVE_MINUTES))


async def minute_passed(
    box: Box, counts: collections.Counter[str], latencies: Latencies, now: datetime
) -> None:
    """Record a minute more of open time and the funnel's counts for it, in one transaction."""
    fold = functools.partial(_minute_passed, counts=counts, latencies=latencies, now=now)
    await box.writer.run_off_loop(fold)


async def add_funnel(
    box: Box, now: datetime, counts: collections.Counter[str], latencies: Latencies
) -> None:
    """Add the funnel's counts and latencies to their row (at a stop: the part minute)."""
    await box.writer.run(lambda conn: funnel_sql.add_counts(conn, now, counts, latencies))


def _minute_passed(
    conn: sqlite3.Connection,
    counts: collections.Counter[str],
    latencies: Latencies,
    now: datetime,
) -> None:
    ledger_sql.add_meta_count(conn, LIVE_MINUTES, 1)
    funnel_sql.add_counts(conn, now, counts, latencies)
