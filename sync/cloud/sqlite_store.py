"""The cloud's default store: one SQLite file (WAL, synchronous=FULL), no setup.

Every call runs as one function on a single worker thread that owns the connection, so a batch
append is one hop off the event loop and one `BEGIN IMMEDIATE` transaction. Another process (the
`stallbox cloud enrol-token` CLI) may open the same file: writes wait on `busy_timeout`, and the
append re-reads the tree size and edge inside its transaction, so nothing is cached that another
writer could make stale.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

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

T = TypeVar("T")
DB_NAME = "cloud.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    used_at TEXT, device TEXT
);
CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY, public_key TEXT NOT NULL, name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE, enrolled_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0, head_seq INTEGER NOT NULL DEFAULT -1,
    head_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS receipts (
    device TEXT NOT NULL REFERENCES devices, seq INTEGER NOT NULL, line TEXT NOT NULL,
    items TEXT NOT NULL, log_index INTEGER NOT NULL UNIQUE, PRIMARY KEY (device, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subtrees (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
INSERT OR IGNORE INTO log_state VALUES (1, 0);
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
    device TEXT NOT NULL, minute TEXT NOT NULL, menu INTEGER NOT NULL, cart INTEGER NOT NULL,
    ordered INTEGER NOT NULL, paid INTEGER NOT NULL, PRIMARY KEY (device, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS funnel_latency (
    device TEXT NOT NULL, minute TEXT NOT NULL, buckets TEXT NOT NULL, sum_ms INTEGER NOT NULL,
    PRIMARY KEY (device, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY, device TEXT NOT NULL, reason TEXT NOT NULL, seq INTEGER NOT NULL,
    message TEXT NOT NULL, line TEXT NOT NULL, items TEXT NOT NULL, first_at TEXT NOT NULL,
    last_at TEXT NOT NULL, times INTEGER NOT NULL DEFAULT 1, UNIQUE (device, reason, seq, line)
);
"""
_DEVICE = (
    "SELECT d.device, d.public_key, d.name, d.enrolled_at, d.revoked, d.head_seq, d.head_hash,"
    " (SELECT count(*) FROM quarantine q WHERE q.device = d.device),"
    " (SELECT q.reason || char(9) || q.seq || char(9) || q.message FROM quarantine q"
    "  WHERE q.device = d.device ORDER BY q.last_at DESC, q.id DESC LIMIT 1),"
    " (SELECT c.last_contact FROM device_contacts c WHERE c.device = d.device)"
    " FROM devices d"
)


class SqliteStore:
    """The CloudStore on one SQLite file, all work on one thread."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (and create or migrate) the database at `path`."""
        executor = ThreadPoolExecutor(1, thread_name_prefix="cloud-sqlite")

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA busy_timeout=10000")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")
            except sqlite3.Error:
                conn.close()
                raise
            return conn

        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(executor, connect)
        except sqlite3.Error as exc:
            executor.shutdown()
            raise CloudStateError(f"{path}: cannot open the cloud database ({exc})") from None
        return cls(conn, executor)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(transaction)

    async def close(self) -> None:
        """Close the connection and stop the worker thread."""
        await self._run(lambda conn: conn.close())
        self._executor.shutdown()

    async def epochs(self) -> list[EpochRow]:
        """Return the epochs begun after rollbacks, oldest first."""
        rows = await self._run(
            lambda c: c.execute(
                "SELECT epoch, origin, started_at, size_at_start, reason, evidence"
                " FROM log_epochs ORDER BY epoch"
            ).fetchall()
        )
        return [EpochRow(*row) for row in rows]

    async def start_epoch(
        self, after: int, base: str, now: datetime, reason: str, evidence: str
    ) -> bool:
        """Begin epoch `after + 1` if `after` is still the current one."""

        def start(conn: sqlite3.Connection) -> bool:
            (current,) = conn.execute("SELECT coalesce(max(epoch), 1) FROM log_epochs").fetchone()
            if current != after:
                return False
            (size,) = conn.execute("SELECT size FROM log_state WHERE id = 1").fetchone()
            conn.execute(
                "INSERT INTO log_epochs VALUES (?, ?, ?, ?, ?, ?)",
                (after + 1, epoch_origin(base, after + 1), timestamp(now), size, reason, evidence),
            )
            return True

        return await self._write(start)

    async def claim_identity(self, origin: str, verifier_key: str) -> tuple[str, str]:
        """Record the log's identity if none is; return the stored (origin, verifier key)."""

        def claim(conn: sqlite3.Connection) -> tuple[str, str]:
            conn.execute(
                "INSERT OR IGNORE INTO log_identity VALUES (1, ?, ?)", (origin, verifier_key)
            )
            row = conn.execute("SELECT origin, verifier_key FROM log_identity").fetchone()
            return str(row[0]), str(row[1])

        return await self._write(claim)

    async def add_enrol_token(self, token_hash: str, now: datetime, expires: datetime) -> None:
        """Store a new one-time enrol token's hash."""
        row = (token_hash, timestamp(now), timestamp(expires))
        await self._write(
            lambda c: c.execute("INSERT INTO enrol_tokens VALUES (?,?,?,NULL,NULL)", row)
        )

    async def enrol(
        self, token_hash: str, now: datetime, device: str, public_key: str, name: str,
        api_token_hash: str,
    ) -> None:  # fmt: skip
        """Use up the enrol token and create or re-token the device, atomically."""
        at = timestamp(now)

        def enrol(conn: sqlite3.Connection) -> None:
            used = conn.execute(
                "UPDATE enrol_tokens SET used_at = ?, device = ?"
                " WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?",
                (at, device, token_hash, at),
            )
            if used.rowcount != 1:
                raise EnrolRefused("token: unknown, already used or expired")
            conn.execute(
                "INSERT INTO devices (device, public_key, name, token_hash, enrolled_at, head_hash)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT (device) DO UPDATE SET"
                " token_hash = excluded.token_hash, name = excluded.name, revoked = 0",
                (device, public_key, name, api_token_hash, at, GENESIS_PREV),
            )

        await self._write(enrol)

    async def device(self, device: str) -> DeviceRecord | None:
        """Return one device, or None."""
        row = await self._run(
            lambda c: c.execute(_DEVICE + " WHERE d.device = ?", (device,)).fetchone()
        )
        return None if row is None else device_record(row)

    async def device_by_token(self, api_token_hash: str) -> DeviceRecord | None:
        """Return the device an API token belongs to, or None."""
        row = await self._run(
            lambda c: c.execute(_DEVICE + " WHERE d.token_hash = ?", (api_token_hash,)).fetchone()
        )
        return None if row is None else device_record(row)

    async def devices(self) -> list[DeviceRecord]:
        """Return every device, by id."""
        rows = await self._run(lambda c: c.execute(_DEVICE + " ORDER BY d.device").fetchall())
        return [device_record(row) for row in rows]

    async def revoke(self, device: str) -> bool:
        """Revoke the device's API token."""
        cursor = await self._write(
            lambda c: c.execute("UPDATE devices SET revoked = 1 WHERE device = ?", (device,))
        )
        return cursor.rowcount == 1

    async def ingest_view(self, device: str, span: tuple[int, int] | None) -> IngestView | None:
        """Return the device and its stored lines in `span`."""

        def view(conn: sqlite3.Connection) -> IngestView | None:
            row = conn.execute(_DEVICE + " WHERE d.device = ?", (device,)).fetchone()
            if row is None:
                return None
            stored: dict[int, str] = {}
            if span is not None:
                stored = dict(
                    conn.execute(
                        "SELECT seq, line FROM receipts WHERE device = ? AND seq BETWEEN ? AND ?",
                        (device, *span),
                    ).fetchall()
                )
            return IngestView(device_record(row), stored)

        return await self._run(view)

    async def append_batch(
        self, device: str, after_seq: int, receipts: Sequence[NewReceipt]
    ) -> Appended:
        """Append receipts after `after_seq` in one BEGIN IMMEDIATE transaction."""

        def append(conn: sqlite3.Connection) -> Appended:
            row = conn.execute(
                "SELECT head_seq FROM devices WHERE device = ?", (device,)
            ).fetchone()
            if row is None or row[0] != after_seq:
                raise HeadMoved(f"device {device}: head is no longer seq {after_seq}")
            (size,) = conn.execute("SELECT size FROM log_state WHERE id = 1").fetchone()
            log = extend_log(device, size, _hashes(conn, root_subtrees(size)), receipts)
            conn.executemany("INSERT INTO receipts VALUES (?,?,?,?,?)", log.receipts)
            conn.executemany(
                "INSERT INTO subtrees VALUES (?,?,?)",
                [(s.level, s.index, s.hash) for s in log.subtrees],
            )
            conn.execute("UPDATE log_state SET size = ? WHERE id = 1", (log.size,))
            last = receipts[-1]
            conn.execute(
                "UPDATE devices SET head_seq = ?, head_hash = ? WHERE device = ?",
                (last.seq, last.hash, device),
            )
            if (key := rekeyed_to(receipts)) is not None:  # trusted from the next line on
                conn.execute("UPDATE devices SET public_key = ? WHERE device = ?", (key, device))
            return Appended(last.seq, last.hash, log.size - 1, log.size, log.root)

        return await self._write(append)

    async def quarantine(self, device: str, rejection: Rejection, now: datetime) -> int:
        """Record a refused batch; return the device's quarantine row count."""
        at = timestamp(now)
        seq = -1 if rejection.seq is None else rejection.seq

        def record(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO quarantine (device, reason, seq, message, line, items, first_at,"
                " last_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (device, reason, seq, line)"
                " DO UPDATE SET times = times + 1, last_at = excluded.last_at,"
                " message = excluded.message",
                (device, rejection.reason, seq, rejection.message, rejection.line or "",
                 rejection.items or "", at, at),
            )  # fmt: skip
            (count,) = conn.execute(
                "SELECT count(*) FROM quarantine WHERE device = ?", (device,)
            ).fetchone()
            return int(count)

        return await self._write(record)

    async def quarantine_rows(self, device: str) -> list[QuarantineRow]:
        """Return the device's quarantine rows, oldest first."""
        rows = await self._run(
            lambda c: c.execute(
                "SELECT device, reason, seq, message, line, first_at, last_at, times"
                " FROM quarantine WHERE device = ? ORDER BY id",
                (device,),
            ).fetchall()
        )
        return [
            QuarantineRow(d, r, None if s == -1 else s, m, ln, f, la, t)
            for d, r, s, m, ln, f, la, t in rows
        ]

    async def clear_quarantine(self, device: str) -> int:
        """Delete the device's quarantine rows; return how many."""
        cursor = await self._write(
            lambda c: c.execute("DELETE FROM quarantine WHERE device = ?", (device,))
        )
        return int(cursor.rowcount)

    async def delete_device(self, device: str) -> bool | None:
        """Delete a device the log holds nothing of; None if unknown, False if it has receipts."""

        def delete(conn: sqlite3.Connection) -> bool | None:
            row = conn.execute(
                "SELECT head_seq FROM devices WHERE device = ?", (device,)
            ).fetchone()
            if row is None:
                return None
            if (
                row[0] != -1
                or conn.execute(
                    "SELECT 1 FROM receipts WHERE device = ? LIMIT 1", (device,)
                ).fetchone()
            ):
                return False
            for table in ("quarantine", "funnel", "funnel_latency", "device_contacts", "devices"):
                conn.execute(f"DELETE FROM {table} WHERE device = ?", (device,))  # noqa: S608
            return True

        return await self._write(delete)

    async def touch(self, device: str, now: datetime) -> None:
        """Record that the device made an authenticated request at `now`."""
        row = (device, timestamp(now))
        await self._write(
            lambda c: c.execute(
                "INSERT INTO device_contacts VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET"
                " last_contact = excluded.last_contact",
                row,
            )
        )

    async def put_funnel(self, device: str, minutes: Sequence[FunnelCounts]) -> int:
        """Store funnel minutes (a repeat replaces the minute); return how many."""
        rows = [(device, m.minute, m.menu, m.cart, m.order, m.paid) for m in minutes]
        sql = (
            "INSERT INTO funnel (device, minute, menu, cart, ordered, paid) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device, minute) DO UPDATE SET menu = excluded.menu,"
            " cart = excluded.cart, ordered = excluded.ordered, paid = excluded.paid"
        )
        measured, unmeasured = latency_rows(device, minutes)

        def put(conn: sqlite3.Connection) -> None:
            conn.executemany(sql, rows)
            conn.executemany(PUT_LATENCY.replace("%s", "?"), measured)
            conn.executemany(DROP_LATENCY.replace("%s", "?"), unmeasured)

        await self._write(put)
        return len(rows)

    async def position(self, device: str, seq: int) -> LogPosition | None:
        """Return where the device's receipt `seq` sits in the log."""
        row = await self._run(
            lambda c: c.execute(
                "SELECT line, log_index FROM receipts WHERE device = ? AND seq = ?",
                (device, seq),
            ).fetchone()
        )
        return None if row is None else LogPosition(device, seq, row[0], row[1])

    async def evidence_lines(self, device: str, sale_seq: int) -> list[tuple[int, str]]:
        """Return (seq, line) of the device's evidence lines about the sale at `sale_seq`."""
        rows = await self._run(
            lambda c: c.execute(
                "SELECT seq, line FROM receipts WHERE device = ? AND seq > ? AND line LIKE ?"
                " ORDER BY seq",
                (device, sale_seq, evidence_pattern(sale_seq)),
            ).fetchall()
        )
        return [(int(seq), str(line)) for seq, line in rows]

    async def tree_size(self) -> int:
        """Return the log's current size."""
        row = await self._run(lambda c: c.execute("SELECT size FROM log_state").fetchone())
        return int(row[0])

    async def receipts_page(self, device: str, after_seq: int, limit: int) -> list[StoredLine]:
        """Return up to `limit` of the device's receipts past `after_seq`, by seq."""
        rows = await self._run(
            lambda c: c.execute(
                "SELECT seq, line, items FROM receipts WHERE device = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (device, after_seq, limit),
            ).fetchall()
        )
        return [StoredLine(int(s), str(ln), str(it)) for s, ln, it in rows]

    async def leaves_page(self, after_index: int, limit: int) -> list[tuple[int, str]]:
        """Return up to `limit` (log index, line) past `after_index`, by log index."""
        rows = await self._run(
            lambda c: c.execute(
                "SELECT log_index, line FROM receipts WHERE log_index > ? ORDER BY log_index"
                " LIMIT ?",
                (after_index, limit),
            ).fetchall()
        )
        return [(int(i), str(ln)) for i, ln in rows]

    async def subtree_count(self) -> int:
        """Return how many complete subtrees are stored."""
        row = await self._run(lambda c: c.execute("SELECT count(*) FROM subtrees").fetchone())
        return int(row[0])

    async def subtree_hashes(self, ids: Sequence[SubtreeId]) -> dict[SubtreeId, bytes]:
        """Return the stored hashes among `ids`."""
        return await self._run(lambda c: _hashes(c, ids))


def _hashes(conn: sqlite3.Connection, ids: Sequence[SubtreeId]) -> dict[SubtreeId, bytes]:
    out: dict[SubtreeId, bytes] = {}
    for sid in ids:
        row = conn.execute(
            "SELECT hash FROM subtrees WHERE level = ? AND idx = ?", (sid.level, sid.index)
        ).fetchone()
        if row is not None:
            out[sid] = bytes(row[0])
    return out
