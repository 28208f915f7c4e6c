"""GET /api/sync says when the sync daemon holds uploads for a drop's rush, and until when: the
field the console shows the vendor instead of an outbox that looks stuck (docs/operations.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from node_support import running_node

from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync


def as_the_daemon(state: Path, until: datetime | None) -> None:
    """Write the hold as sync/daemon.py does, on its own connection."""
    conn = open_sync(state / DB_NAME)
    try:
        syncstate.record_pause(conn, "drop" if until else None, until, datetime.now(UTC))
    finally:
        conn.close()


def test_api_sync_carries_the_rush_pause_while_it_lasts(tmp_path: Path) -> None:
    state = tmp_path / "state"

    async def scenario() -> None:
        async with running_node(state) as (client, auth, _):
            before = (await client.get("/api/sync", headers=auth)).json()
            assert before["paused"] is None
            until = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
            as_the_daemon(state, until)
            held = await client.get("/api/sync", headers=auth)
            assert held.status_code == 200
            assert held.json()["paused"] == {"reason": "drop", "until": until.isoformat()}
            as_the_daemon(state, datetime.now(UTC) - timedelta(seconds=1))  # left by a dead daemon
            assert (await client.get("/api/sync", headers=auth)).json()["paused"] is None
            as_the_daemon(state, None)  # the rush ended: the daemon sends again
            assert (await client.get("/api/sync", headers=auth)).json()["paused"] is None

    asyncio.run(scenario())
