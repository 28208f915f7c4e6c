"""The cloud's store on PostgreSQL (psycopg 3, async), for several cloud processes on one database.

Appends to the one log are serialised by a row lock on the single `log_state` row (the append's
`UPDATE … RETURNING size`, `SELECT … FOR UPDATE` elsewhere), taken first in every append, so the
tree size, its edge subtrees and the device's head are read and written by one transaction at a
time across every process; (device, seq) and log_index are keys, so no receipt can be stored
twice. The schema is created under a transaction advisory lock, so processes starting together
do not race on it. Each process holds a small pool of autocommit connections; a statement that
is not in an explicit transaction commits alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg

from appliance.ledger.receipt import GENESIS_PREV
from appliance.ledger.wire import FunnelCounts, epoch_origin
from sync.cloud.ingest import NewReceipt, Rejection
from sync.cloud.store import (
    DROP_LATENCY,
    PUT_LATENCY,
    Appended,
    DeviceRecord,
    EpochRow,
    HeadMoved,
    IngestView,
    LogPosition,
    QuarantineRow,
    StoredLine,
    device_record,
    evidence_pattern,
    extend_log,
    latency_rows,
    rekeyed_to,
    timestamp,
)
from sync.errors import CloudStateError, EnrolRefused
from sync.tlog import SubtreeId, root_subtrees

SCHEMA_LOCK = 0x5354414C  # "STAL": the advisory lock key around schema creation
SCHEMA = """
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    used_at TEXT, device TEXT
);
CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY, public_key TEXT NOT NULL, name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE, head_seq BIGINT NOT NULL DEFAULT -1,
    head_hash BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    device TEXT NOT NULL REFERENCES devices, seq BIGINT NOT NULL, line TEXT NOT NULL,
    items TEXT NOT NULL, log_index BIGINT NOT NULL UNIQUE, PRIMARY KEY (device, seq)
);
CREATE TABLE IF NOT EXISTS subtrees (
    level INTEGER NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL);
INSERT INTO log_state VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS log_epochs (
    epoch INTEGER PRIMARY KEY, origin TEXT NOT NULL, started_at TEXT NOT NULL,
    size_at_start BIGINT NOT NULL, reason TEXT NOT NULL, evidence TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_contacts (
    device TEXT PRIMARY KEY, last_contact TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_identity (
    id INTEGER PRIMARY KEY CHECK (id = 1), origin TEXT NOT NULL, verifier_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS funnel (
    device TEXT NOT NULL, minute TEXT NOT NULL, menu BIGINT NOT NULL, cart BIGINT NOT NULL,
    ordered BIGINT NOT NULL, paid BIGINT NOT NULL, PRIMARY KEY (device, minute)
);
CREATE TABLE IF NOT EXISTS funnel_latency (
    device TEXT NOT NULL, minute TEXT NOT NULL, buckets TEXT NOT NULL, sum_ms BIGINT NOT NULL,
    PRIMARY KEY (device, minute)
);
CREATE TABLE IF NOT EXISTS quarantine (
    id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL, reason TEXT NOT NULL, seq BIGINT NOT NULL,
    message TEXT NOT NULL, line TEXT NOT NULL, items TEXT NOT NULL, first_at TEXT NOT NULL,
    last_at TEXT NOT NULL, times INTEGER NOT NULL DEFAULT 1, UNIQUE (device, reason, seq, line)
);
"""
_DEVICE = (
    "SELECT d.device, d.public_key, d.name, d.enrolled_at, d.revoked, d.head_seq, d.head_hash,"
    " (SELECT count(*) FROM quarantine q WHERE q.device = d.device),"
    " (SELECT q.reason || chr(9) || q.seq || chr(9) || q.message FROM quarantine q"
    "  WHERE q.device = d.device ORDER BY q.last_at DESC, q.id DESC LIMIT 1),"
    " (SELECT c.last_contact FROM device_contacts c WHERE c.device = d.device)"
    " FROM devices d"
)
_SUBTREES = (
    "SELECT level, idx, hash FROM subtrees WHERE (level, idx) IN"
    " (SELECT * FROM unnest(%s::integer[], %s::bigint[]))"
)


Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class PostgresStore:
    """The CloudStore on PostgreSQL, with a small pool of connections per process."""

    def __init__(self, pool: asyncio.Queue[Conn], conns: list[Conn]) -> None:
        self._pool = pool
        self._conns = conns
        # The log's size after this process's last append: the likely size at its next one,
        # whose edge subtrees are then read in the same round trip as the lock.
        self._size_hint = 0

    @classmethod
    async def open(cls, dsn: str, size: int = 4) -> PostgresStore:
        """Connect `size` times to `dsn` and create the schema if it is missing."""
        conns: list[Conn] = []
        try:
            for _ in range(size):
                conns.append(await psycopg.AsyncConnection.connect(dsn, autocommit=True))
            async with conns[0].transaction():
                await conns[0].execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                await conns[0].execute(SCHEMA)
        except psycopg.Error as exc:
            for conn in conns:
                await conn.close()
            raise CloudStateError(f"PostgreSQL: cannot open the cloud database ({exc})") from None
        pool: asyncio.Queue[Conn] = asyncio.Queue()
        for conn in conns:
            pool.put_nowait(conn)
        return cls(pool, conns)

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        conn = await self._pool.get()
        try:
            yield conn
        finally:
            self._pool.put_nowait(conn)

    async def close(self) -> None:
        """Close every connection."""
        for conn in self._conns:
            await conn.close()

    async def _one(self, query: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        async with self._conn() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchone()

    async def epochs(self) -> list[EpochRow]:
        """Return the epochs begun after rollbacks, oldest first."""
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT epoch, origin, started_at, size_at_start, reason, evidence"
                " FROM log_epochs ORDER BY epoch"
            )
            rows = await cursor.fetchall()
        return [
            EpochRow(int(e), str(o), str(s), int(z), str(r), str(v)) for e, o, s, z, r, v in rows
        ]

    async def start_epoch(
        self, after: int, base: str, now: datetime, reason: str, evidence: str
    ) -> bool:
        """Begin epoch `after + 1` if `after` is still the current one (under the log's lock)."""
        async with self._conn() as conn, conn.transaction():
            cursor = await conn.execute("SELECT size FROM log_state WHERE id = 1 FOR UPDATE")
            size = int((await cursor.fetchone() or (0,))[0])
            cursor = await conn.execute("SELECT coalesce(max(epoch), 1) FROM log_epochs")
            current = int((await cursor.fetchone() or (1,))[0])
            if current != after:
                return False
            await conn.execute(
                "INSERT INTO log_epochs VALUES (%s, %s, %s, %s, %s, %s)",
                (after + 1, epoch_origin(base, after + 1), timestamp(now), size, reason, evidence),
            )
        return True

    async def claim_identity(self, origin: str, verifier_key: str) -> tuple[str, str]:
        """Record the log's identity if none is; return the stored (origin, verifier key)."""
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO log_identity VALUES (1, %s, %s) ON CONFLICT DO NOTHING",
                (origin, verifier_key),
            )
            cursor = await conn.execute("SELECT origin, verifier_key FROM log_identity")
            row = await cursor.fetchone()
        assert row is not None  # inserted just above, and never deleted
        return str(row[0]), str(row[1])

    async def add_enrol_token(self, token_hash: str, now: datetime, expires: datetime) -> None:
        """Store a new one-time enrol token's hash."""
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO enrol_tokens VALUES (%s, %s, %s, NULL, NULL)",
                (token_hash, timestamp(now), timestamp(expires)),
            )

    async def enrol(
        self, token_hash: str, now: datetime, device: str, public_key: str, name: str,
        api_token_hash: str,
    ) -> None:  # fmt: skip
        """Use up the enrol token and create or re-token the device, atomically."""
        at = timestamp(now)
        async with self._conn() as conn, conn.transaction():
            used = await conn.execute(
                "UPDATE enrol_tokens SET used_at = %s, device = %s"
                " WHERE token_hash = %s AND used_at IS NULL AND expires_at > %s",
                (at, device, token_hash, at),
            )
            if used.rowcount != 1:
                raise EnrolRefused("token: unknown, already used or expired")
            await conn.execute(
                "INSERT INTO devices (device, public_key, name, token_hash, enrolled_at, head_hash)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device) DO UPDATE SET"
                " token_hash = excluded.token_hash, name = excluded.name, revoked = FALSE",
                (device, public_key, name, api_token_hash, at, GENESIS_PREV),
            )

    async def device(self, device: str) -> DeviceRecord | None:
        """Return one device, or None."""
        row = await self._one(_DEVICE + " WHERE d.device = %s", (device,))
        return None if row is None else device_record(row)

    async def device_by_token(self, api_token_hash: str) -> DeviceRecord | None:
        """Return the device an API token belongs to, or None."""
        row = await self._one(_DEVICE + " WHERE d.token_hash = %s", (api_token_hash,))
        return None if row is None else device_record(row)

    async def devices(self) -> list[DeviceRecord]:
        """Return every device, by id."""
        async with self._conn() as conn:
            cursor = await conn.execute(_DEVICE + " ORDER BY d.device")
            return [device_record(row) for row in await cursor.fetchall()]

    async def revoke(self, device: str) -> bool:
        """Revoke the device's API token."""
        async with self._conn() as conn:
            cursor = await conn.execute(
                "UPDATE devices SET revoked = TRUE WHERE device = %s", (device,)
            )
            return cursor.rowcount == 1

    async def clear_quarantine(self, device: str) -> int:
        """Delete the device's quarantine rows; return how many."""
        async with self._conn() as conn:
            cursor = await conn.execute("DELETE FROM quarantine WHERE device = %s", (device,))
            return int(cursor.rowcount)

    async def delete_device(self, device: str) -> bool | None:
        """Delete a device the log holds nothing of; None if unknown, False if it has receipts."""
        async with self._conn() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT head_seq FROM devices WHERE device = %s FOR UPDATE", (device,)
            )
            row = await cursor.fetchone()
            if row is None:
                return None
            cursor = await conn.execute(
                "SELECT 1 FROM receipts WHERE device = %s LIMIT 1", (device,)
            )
            if row[0] != -1 or await cursor.fetchone() is not None:
                return False
            for table in ("quarantine", "funnel", "funnel_latency", "device_contacts", "devices"):
                await conn.execute(f"DELETE FROM {table} WHERE device = %s", (device,))  # noqa: S608 - constant names
        return True

    async def touch(self, device: str, now: datetime) -> None:
        """Record that the device made an authenticated request at `now`."""
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO device_contacts VALUES (%s, %s) ON CONFLICT (device) DO UPDATE SET"
                " last_contact = excluded.last_contact",
                (device, timestamp(now)),
            )

    async def put_funnel(self, device: str, minutes: Sequence[FunnelCounts]) -> int:
        """Store funnel minutes (a repeat replaces the minute); return how many."""
        rows = [(device, m.minute, m.menu, m.cart, m.order, m.paid) for m in minutes]
        measured, unmeasured = latency_rows(device, minutes)
        async with self._conn() as conn, conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO funnel (device, minute, menu, cart, ordered, paid)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (device, minute) DO UPDATE SET"
                " menu = excluded.menu, cart = excluded.cart, ordered = excluded.ordered,"
                " paid = excluded.paid",
                rows,
            )
            if measured:
                await cursor.executemany(PUT_LATENCY, measured)
            if unmeasured:
                await cursor.executemany(DROP_LATENCY, unmeasured)
        return len(rows)

    async def ingest_view(self, device: str, span: tuple[int, int] | None) -> IngestView | None:
        """Return the device and its stored lines in `span`."""
        async with self._conn() as conn:
            cursor = await conn.execute(_DEVICE + " WHERE d.device = %s", (device,))
            row = await cursor.fetchone()
            if row is None:
                return None
            stored: dict[int, str] = {}
            if span is not None:
                cursor = await conn.execute(
                    "SELECT seq, line FROM receipts WHERE device = %s AND seq BETWEEN %s AND %s",
                    (device, *span),
                )
                stored = {int(s): str(ln) for s, ln in await cursor.fetchall()}
            return IngestView(device_record(row), stored)

    async def append_batch(
        self, device: str, after_seq: int, receipts: Sequence[NewReceipt]
    ) -> Appended:
        """Append receipts after `after_seq` in one transaction holding the log's row lock.

        Few round trips while the lock is held: the lock, the head move (its UPDATE matches only
        if the head is still `after_seq`) and the edge subtrees of the size this process's last
        append left go in one pipeline, each statement run after the one before it has its
        locks; the edge is read again if another process appended since; the rows go by COPY.
        """
        last, hint = receipts[-1], self._size_hint
        async with self._conn() as conn, conn.transaction():
            async with conn.pipeline():
                locked = await conn.execute(
                    "UPDATE log_state SET size = size + %s WHERE id = 1 RETURNING size",
                    (len(receipts),),
                )
                moved = await conn.execute(
                    "UPDATE devices SET head_seq = %s, head_hash = %s,"
                    " public_key = coalesce(%s, public_key) WHERE device = %s AND head_seq = %s",
                    (last.seq, last.hash, rekeyed_to(receipts), device, after_seq),
                )  # a rekey's key is trusted from the next line on
                guessed = await conn.execute(_SUBTREES, _id_arrays(root_subtrees(hint)))
            size = int((await locked.fetchone() or (len(receipts),))[0]) - len(receipts)
            if moved.rowcount != 1:
                raise HeadMoved(f"device {device}: head is no longer seq {after_seq}")
            if size == hint:
                edge = {
                    SubtreeId(int(lv), int(ix)): bytes(h) for lv, ix, h in await guessed.fetchall()
                }
            else:
                edge = await _hashes(conn, root_subtrees(size))
            log = extend_log(device, size, edge, receipts)
            async with conn.cursor() as cur:
                async with cur.copy("COPY receipts FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["text", "int8", "text", "text", "int8"])
                    for row in log.receipts:
                        await copy.write_row(row)
                async with cur.copy("COPY subtrees FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["int4", "int8", "bytea"])
                    for s in log.subtrees:
                        await copy.write_row((s.level, s.index, s.hash))
        self._size_hint = log.size
        return Appended(last.seq, last.hash, log.size - 1, log.size, log.root)

    async def quarantine(self, device: str, rejection: Rejection, now: datetime) -> int:
        """Record a refused batch; return the device's quarantine row count."""
        at = timestamp(now)
        seq = -1 if rejection.seq is None else rejection.seq
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO quarantine (device, reason, seq, message, line, items, first_at,"
                " last_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (device, reason, seq, line) DO UPDATE SET"
                " times = quarantine.times + 1, last_at = excluded.last_at,"
                " message = excluded.message",
                (device, rejection.reason, seq, rejection.message, rejection.line or "",
                 rejection.items or "", at, at),
            )  # fmt: skip
            cursor = await conn.execute(
                "SELECT count(*) FROM quarantine WHERE device = %s", (device,)
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def quarantine_rows(self, device: str) -> list[QuarantineRow]:
        """Return the device's quarantine rows, oldest first."""
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT device, reason, seq, message, line, first_at, last_at, times"
                " FROM quarantine WHERE device = %s ORDER BY id",
                (device,),
            )
            rows = await cursor.fetchall()
        return [
            QuarantineRow(str(d), str(r), None if s == -1 else int(s), str(m), str(ln),
                          str(f), str(la), int(t))
            for d, r, s, m, ln, f, la, t in rows
        ]  # fmt: skip

    async def position(self, device: str, seq: int) -> LogPosition | None:
        """Return where the device's receipt `seq` sits in the log."""
        row = await self._one(
            "SELECT line, log_index FROM receipts WHERE device = %s AND seq = %s", (device, seq)
        )
        return None if row is None else LogPosition(device, seq, str(row[0]), int(row[1]))

    async def evidence_lines(self, device: str, sale_seq: int) -> list[tuple[int, str]]:
        """Return (seq, line) of the device's evidence lines about the sale at `sale_seq`."""
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT seq, line FROM receipts WHERE device = %s AND seq > %s AND line LIKE %s"
                " ORDER BY seq",
                (device, sale_seq, evidence_pattern(sale_seq)),
            )
            rows = await cursor.fetchall()
        return [(int(seq), str(line)) for seq, line in rows]

    async def tree_size(self) -> int:
        """Return the log's current size."""
        row = await self._one("SELECT size FROM log_state WHERE id = 1", ())
        return int(row[0]) if row else 0

    async def receipts_page(self, device: str, after_seq: int, limit: int) -> list[StoredLine]:
        """Return up to `limit` of the device's receipts past `after_seq`, by seq."""
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT seq, line, items FROM receipts WHERE device = %s AND seq > %s"
                " ORDER BY seq LIMIT %s",
                (device, after_seq, limit),
            )
            rows = await cursor.fetchall()
        return [StoredLine(int(s), str(ln), str(it)) for s, ln, it in rows]

    async def leaves_page(self, after_index: int, limit: int) -> list[tuple[int, str]]:
        """Return up to `limit` (log index, line) past `after_index`, by log index."""
        async with self._conn() as conn:
            cursor = await conn.execute(
                "SELECT log_index, line FROM receipts WHERE log_index > %s ORDER BY log_index"
                " LIMIT %s",
                (after_index, limit),
            )
            rows = await cursor.fetchall()
        return [(int(i), str(ln)) for i, ln in rows]

    async def subtree_count(self) -> int:
        """Return how many complete subtrees are stored."""
        row = await self._one("SELECT count(*) FROM subtrees", ())
        return int(row[0]) if row else 0

    async def subtree_hashes(self, ids: Sequence[SubtreeId]) -> dict[SubtreeId, bytes]:
        """Return the stored hashes among `ids`."""
        async with self._conn() as conn:
            return await _hashes(conn, ids)


def _id_arrays(ids: Sequence[SubtreeId]) -> tuple[list[int], list[int]]:
    return [sid.level for sid in ids], [sid.index for sid in ids]


async def _hashes(conn: Conn, ids: Sequence[SubtreeId]) -> dict[SubtreeId, bytes]:
    if not ids:
        return {}
    cursor = await conn.execute(_SUBTREES, _id_arrays(ids))
    return {SubtreeId(int(lv), int(ix)): bytes(h) for lv, ix, h in await cursor.fetchall()}
