"""Ship the stall's funnel counts to the cloud, only when no receipt is waiting.

Receipts always go first (DESIGN §4): the daemon calls this only after a step found the outbox
empty. Funnel minutes are analytics — no proofs, no stop on a refusal, no backoff state: a
failure is logged and the same minutes go next time. What the cloud stored is remembered in
sync_state.funnel_sent; the node keeps at most a week of minutes (appliance/store/funnel.py).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime

import httpx

from appliance.ledger.wire import (
    MAX_FUNNEL_MINUTES,
    VERSION,
    ConversionLatency,
    FunnelBatch,
    FunnelCounts,
    encode,
)
from appliance.services.cloud_account import CloudAccount
from appliance.store import funnel as funnel_sql
from appliance.store import syncstate

log = logging.getLogger(__name__)

EVERY_S = 30.0  # at most this often: minutes finish once a minute
TIMEOUT = httpx.Timeout(10.0)


class FunnelShipper:
    """Sends finished funnel minutes past `funnel_sent` to the cloud, a day's worth at a time."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        account: CloudAccount,
        client: httpx.AsyncClient,
        clock: Callable[[], datetime],
    ) -> None:
        self.conn, self.account, self.client, self.clock = conn, account, client, clock
        self._url = f"{account.url.rstrip('/')}/v1/devices/{account.device}/funnel"
        self._next = 0.0

    async def ship(self, *, force: bool = False) -> int:
        """Send what is due (at most every EVERY_S unless `force`); return the minutes stored."""
        if not force and time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + EVERY_S
        now = self.clock()
        rows = funnel_sql.unsent(self.conn, MAX_FUNNEL_MINUTES)
        if not rows:
            return 0
        body = encode(FunnelBatch(VERSION, [wire_minute(r) for r in rows]))
        try:
            answer = await self.client.post(
                self._url,
                content=body,
                timeout=TIMEOUT,
                headers={"Authorization": f"Bearer {self.account.api_token}"},
            )
        except httpx.TransportError as exc:
            log.info("funnel minutes wait for the next try: %s", exc)
            return 0
        if answer.status_code != 200:
            log.warning(
                "the cloud refused funnel minutes (%d): %s", answer.status_code, answer.text[:200]
            )
            return 0
        syncstate.record_funnel_sent(self.conn, rows[-1].minute, now)
        return len(rows)


def wire_minute(row: funnel_sql.FunnelMinute) -> FunnelCounts:
    """A stored minute as sent: its latency histogram only if it has one."""
    h = row.conversion
    conversion = None if h is None else ConversionLatency(list(h.buckets), h.sum_ms)
    return FunnelCounts(row.minute, row.menu, row.cart, row.order, row.paid, conversion)
