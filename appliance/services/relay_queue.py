"""The relay queue a box with an uplink keeps for peers without one, and whether it has one.

A peer hands its batches to this box's relay endpoint (appliance/api/operator/relay.py); they
wait here for this box's sync daemon to forward them, and the cloud's answers wait for the peer
to poll. The SQL and the caps (RelayFull) are in appliance/store/relay.py; this is the use
cases the handlers and the node call (DESIGN §7: handlers reach the store through services).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.services.box import Box
from appliance.store import relay as relay_sql
from appliance.store import syncstate
from appliance.store.relay import Answered


async def enqueue(
    box: Box, origin: str, span: tuple[int, int, int], body: bytes, now: datetime
) -> int:
    """Keep one of `origin`'s batches for the cloud; how many of its batches now wait."""
    return await box.writer.run(lambda conn: relay_sql.enqueue(conn, origin, span, body, now))


async def answers(box: Box, origin: str, after: int, known: int | None) -> list[Answered]:
    """The cloud's answers to `origin`'s batches that end after seq `after`, newest first
    (of batches with `known_size` = `known` only, if given)."""
    # A read (anyone on the LAN may poll): on the read connection, never in a write batch.
    return await box.writer.read(lambda conn: relay_sql.answers(conn, origin, after, known))


async def has_uplink(box: Box, now: datetime, fresh: timedelta) -> bool:
    """Whether this box's sync daemon reached the cloud itself within `fresh` and is not stopped."""
    state = await box.writer.read(syncstate.read_state)
    return relay_sql.has_uplink(state, now, fresh)
