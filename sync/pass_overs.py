"""Ship the over-redemptions of passes a box found (appliance/store/pass_peers.py) to the cloud.

Called by the daemon's loop when the outbox is empty, like the funnel: a report, not a receipt.
An over-redemption is marked reported once the cloud answered 200 for it (unless it grew since,
then it goes again); a failure is logged and the same ones go next time.
"""

from __future__ import annotations

import logging
import sqlite3

import httpx
import msgspec

from appliance.services.cloud_account import CloudAccount
from appliance.store import pass_peers as pass_sql

log = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(10.0)
MAX_OVERS = 1000  # per upload


class OverReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One pass used beyond its allowance in one period, as one box found it."""

    pass_id: str
    period: str
    used: int
    allowance: int
    found_at: str


class OverBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a box sends: its over-redemptions not yet reported."""

    overs: list[OverReport]


async def ship(conn: sqlite3.Connection, account: CloudAccount, client: httpx.AsyncClient) -> int:
    """Send the over-redemptions not yet reported; return how many the cloud stored."""
    try:
        found = pass_sql.overs(conn, unreported_only=True)[:MAX_OVERS]
    except sqlite3.OperationalError:  # a database from before the table: nothing to say
        return 0
    if not found:
        return 0
    batch = OverBatch(
        [OverReport(o.pass_id, o.period, o.used, o.allowance, o.found_at) for o in found]
    )
    try:
        answer = await client.post(
            f"{account.url.rstrip('/')}/v1/devices/{account.device}/pass-overs",
            content=msgspec.json.encode(batch),
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {account.api_token}"},
        )
    except httpx.TransportError as exc:
        log.info("over-redemptions wait for the next try: %s", exc)
        return 0
    if answer.status_code != 200:
        log.warning(
            "the cloud refused over-redemptions (%d): %s", answer.status_code, answer.text[:200]
        )
        return 0
    with conn:
        pass_sql.mark_reported(conn, found)
    log.info("reported %d over-redemption(s) of passes to the cloud", len(found))
    return len(found)
