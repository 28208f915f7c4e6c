"""The box's figures for the console and /metrics: sales, the outbox, the sync daemon's view.

Reads only, each one snapshot through the writer's read connection (DESIGN §7: handlers reach
the store through services); the SQL is in appliance/store/stats.py and syncstate.py.
"""

from __future__ import annotations

from datetime import datetime

from appliance.services.box import Box
from appliance.store import stats as stats_sql
from appliance.store import syncstate
from appliance.store.stats import Figures
from appliance.store.syncstate import SyncState


async def figures(box: Box) -> Figures:
    """Sales, revenue, voids, the outbox and the policy's decisions, as /api/stats shows them."""
    return await box.writer.read(stats_sql.figures)


async def sync_view(
    box: Box, now: datetime
) -> tuple[SyncState, tuple[int, float | None], tuple[str, str] | None]:
    """The sync daemon's stored state, the outbox's depth and oldest age (one snapshot), and the
    daemon's pause (reason, until) if it is still on at `now`."""
    # Two primary-key lookups and one row: consoles poll this every few seconds.
    state, outbox = await box.writer.read(
        lambda conn: (syncstate.read_state(conn), stats_sql.outbox_age(conn))
    )
    return state, outbox, syncstate.active_pause(state, now)
