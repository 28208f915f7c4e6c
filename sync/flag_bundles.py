"""Flags both ways through sync: the event's signed bundle down, the box's canary decisions up.

Once the outbox is empty (receipts first, as for the funnel minutes), at most every `every_s`:
GET the bundle of the event this box serves (`/v1/devices/{device}/flags`, the device token,
`If-None-Match` with the last one's SHA-256) and, when it changed, write it to the node's
`flags-inbox.json` atomically; the node verifies it before use (appliance/services/
flag_inbox.py) — this side carries bytes and trusts nothing. Then POST the flag decisions the
box took since the last ones the cloud stored (`/v1/devices/{device}/flag-decisions`); the
cloud ignores a repeat, so after a restart they simply go again. Analytics and configuration:
a failure is logged and retried next time, it never stops the receipts.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from pathlib import Path

import httpx
import msgspec

from appliance.durable import write_atomic
from appliance.services.cloud_account import CloudAccount
from appliance.store import flags as flags_sql
from sync.flag_wire import MAX_DECISIONS, DecisionBatch, WireDecision

log = logging.getLogger(__name__)
INBOX = "flags-inbox.json"  # appliance/services/flag_inbox.py reads it
TIMEOUT = httpx.Timeout(10.0)


def state_dir_of(conn: sqlite3.Connection) -> Path | None:
    """The directory of the node's database file (the box's state dir); None in memory."""
    row = conn.execute("PRAGMA database_list").fetchone()
    return Path(str(row[2])).parent if row and row[2] else None


class FlagBundles:
    """Fetches this box's flag bundle into the node's inbox and ships its decisions."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        account: CloudAccount,
        client: httpx.AsyncClient,
        every_s: float = 30.0,
        state_dir: Path | None = None,
    ) -> None:
        self.conn, self.account, self.client, self.every_s = conn, account, client, every_s
        home = state_dir or state_dir_of(conn)
        self.inbox = None if home is None else home / INBOX  # None: a database in memory
        base = f"{account.url.rstrip('/')}/v1/devices/{account.device}"
        self._bundle_url, self._decisions_url = f"{base}/flags", f"{base}/flag-decisions"
        self._headers = {"Authorization": f"Bearer {account.api_token}"}
        self._sent = 0  # flag_decisions row id the cloud has stored up to
        self._next = 0.0
        self._etag: str | None = None
        try:
            if self.inbox is not None:
                self._etag = f'"{hashlib.sha256(self.inbox.read_bytes()).hexdigest()}"'
        except OSError:
            pass  # no bundle yet

    async def step(self, *, force: bool = False) -> None:
        """Fetch the bundle and ship decisions, if due (every `every_s`, or now with `force`)."""
        if not force and time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every_s
        try:
            await self.fetch()
            await self.ship()
        except httpx.TransportError as exc:
            log.info("flags wait for the next try: %s", exc)
        except (httpx.HTTPError, OSError, sqlite3.Error) as exc:  # never stops the receipts
            log.warning("flags: %s; trying again next round", exc)

    async def fetch(self) -> bool:
        """GET the bundle; True if a new one was put in the node's inbox."""
        if self.inbox is None:
            return False
        headers = dict(self._headers)
        if self._etag is not None:
            headers["If-None-Match"] = self._etag
        answer = await self.client.get(self._bundle_url, headers=headers, timeout=TIMEOUT)
        if answer.status_code in (304, 404):  # unchanged, or no flags for this box (yet)
            return False
        if answer.status_code != 200:
            log.warning(
                "the cloud answered %d for flags: %s", answer.status_code, answer.text[:200]
            )
            return False
        wire = answer.content
        digest = hashlib.sha256(wire).hexdigest()
        if self._etag == f'"{digest}"':
            return False
        write_atomic(self.inbox, wire, 0o644)
        self._etag = f'"{digest}"'
        log.info("flags: a new bundle (%s) is in the node's inbox", digest[:12])
        return True

    async def ship(self) -> int:
        """POST the decisions past the last ones stored; return how many the cloud stored."""
        rows = flags_sql.decisions_after(self.conn, self._sent, MAX_DECISIONS)
        if not rows:
            return 0
        batch = DecisionBatch(
            1,
            [
                WireDecision(d.at, d.bundle, d.flag, d.variant, d.verdict, d.reason, d.figures)
                for _, d in rows
            ],
        )
        answer = await self.client.post(
            self._decisions_url,
            content=msgspec.json.encode(batch),
            headers={**self._headers, "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
        if answer.status_code != 200:
            log.warning(
                "the cloud refused flag decisions (%d): %s", answer.status_code, answer.text[:200]
            )
            return 0
        self._sent = rows[-1][0]
        return len(rows)
