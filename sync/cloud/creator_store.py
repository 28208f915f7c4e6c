"""The creators' tables at the cloud, on either store: logins, boxes by event, flags, decisions.

Kept beside the log's tables, not in them: a creator's flag set, a box's edge decisions and the
dashboard's reads never touch the log's append lock. The same SQL runs on SQLite and PostgreSQL
(placeholders `?` become `%s`); the tables are created on first use (`CREATE … IF NOT EXISTS`,
under the store's own write path), so neither store's schema needs to know of them.

- `creators`: id, scrypt hash of the password (never the password), created.
- `creator_devices`: which creator's event a device (box) serves; one event per box at a time.
- `creator_flags`: the signed bundle (wire form) of each creator/event's flag set, as served.
- `edge_decisions`: what each box's canary judge decided (one row per bundle, flag and arm).

It also reads the store's synced funnel minutes and their conversion latency histograms for the
dashboard, and forgets a device's rows here when `stallbox cloud delete-device` deletes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.ledger.figures import Latencies
from sync.cloud.store import CloudStore

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS creators (creator TEXT PRIMARY KEY, password_hash TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS creator_devices (device TEXT PRIMARY KEY,"
    " creator TEXT NOT NULL REFERENCES creators, event TEXT NOT NULL, assigned_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS creator_flags (creator TEXT NOT NULL, event TEXT NOT NULL,"
    " wire TEXT NOT NULL, digest TEXT NOT NULL, issued_at BIGINT NOT NULL,"
    " expires_at BIGINT NOT NULL, PRIMARY KEY (creator, event))",
    "CREATE TABLE IF NOT EXISTS edge_decisions (device TEXT NOT NULL, bundle TEXT NOT NULL,"
    " flag TEXT NOT NULL, variant TEXT NOT NULL, at TEXT NOT NULL, verdict TEXT NOT NULL,"
    " reason TEXT NOT NULL, figures TEXT NOT NULL, PRIMARY KEY (device, bundle, flag, variant))",
)
Row = tuple[Any, ...]
SCHEMA_LOCK = 0x5354414D  # PostgreSQL: processes creating the tables at once take turns


@dataclass(frozen=True, slots=True)
class Assignment:
    """The creator and event a box serves."""

    device: str
    creator: str
    event: str


@dataclass(frozen=True, slots=True)
class StoredFlags:
    """A creator/event's flag set as signed."""

    creator: str
    event: str
    wire: str
    digest: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class EdgeDecision:
    """One canary decision a box took, as synced."""

    device: str
    bundle: str
    flag: str
    variant: str
    at: str
    verdict: str
    reason: str
    figures: str


class CreatorTables:
    """Runs the creators' SQL on a CloudStore (SQLite or PostgreSQL)."""

    schema: tuple[str, ...] = SCHEMA  # a subclass keeping other tables names its own

    def __init__(self, store: CloudStore) -> None:
        self.store = store
        self._postgres = not hasattr(store, "_write")
        self._ready = False

    async def _exec(self, statements: Sequence[tuple[str, Sequence[object]]]) -> int:
        """Run statements in one transaction; return the rows the last one changed."""
        await self._ensure()
        return await self._raw(statements)

    async def _raw(self, statements: Sequence[tuple[str, Sequence[object]]]) -> int:
        store: Any = self.store
        if self._postgres:
            async with store._conn() as conn, conn.transaction():
                count = 0
                for sql, args in statements:
                    cursor = await conn.execute(sql.replace("?", "%s"), args)
                    count = cursor.rowcount
                return count

        def run(conn: Any) -> int:
            count = 0
            for sql, args in statements:
                count = conn.execute(sql, args).rowcount
            return count

        result: int = await store._write(run)
        return result

    async def _all(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        await self._ensure()
        store: Any = self.store
        if self._postgres:
            async with store._conn() as conn:
                return list(await (await conn.execute(sql.replace("?", "%s"), args)).fetchall())
        rows: list[Row] = await store._run(lambda c: c.execute(sql, args).fetchall())
        return rows

    async def _ensure(self) -> None:
        if not self._ready:
            lock = [("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))] if self._postgres else []
            await self._raw([*lock, *((statement, ()) for statement in self.schema)])
            self._ready = True

    async def add_creator(self, creator: str, password_hash: str, now: str) -> bool:
        """Add a creator (or set a known one's password); True if the creator is new."""
        known = await self._all("SELECT 1 FROM creators WHERE creator = ?", (creator,))
        await self._exec([(
            "INSERT INTO creators (creator, password_hash, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (creator) DO UPDATE SET password_hash = excluded.password_hash",
            (creator, password_hash, now),
        )])  # fmt: skip
        return not known

    async def password_hash(self, creator: str) -> str | None:
        """The creator's stored password hash, or None."""
        rows = await self._all("SELECT password_hash FROM creators WHERE creator = ?", (creator,))
        return str(rows[0][0]) if rows else None

    async def creators(self) -> list[str]:
        """Every creator id."""
        return [str(r[0]) for r in await self._all("SELECT creator FROM creators ORDER BY 1")]

    async def assign(self, device: str, creator: str, event: str, now: str) -> None:
        """Make `device` serve `creator`'s `event` (replacing what it served)."""
        await self._exec([(
            "INSERT INTO creator_devices (device, creator, event, assigned_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (device) DO UPDATE SET creator = excluded.creator,"
            " event = excluded.event, assigned_at = excluded.assigned_at",
            (device, creator, event, now),
        )])  # fmt: skip

    async def assignment(self, device: str) -> Assignment | None:
        """The creator/event the device serves, or None."""
        rows = await self._all(
            "SELECT device, creator, event FROM creator_devices WHERE device = ?", (device,)
        )
        return Assignment(*map(str, rows[0])) if rows else None

    async def devices_of(self, creator: str) -> list[Assignment]:
        """The creator's boxes, by event then device."""
        rows = await self._all(
            "SELECT device, creator, event FROM creator_devices WHERE creator = ?"
            " ORDER BY event, device",
            (creator,),
        )
        return [Assignment(*map(str, row)) for row in rows]

    async def put_flags(self, flags: StoredFlags) -> None:
        """Store (replace) a creator/event's signed flag set."""
        await self._exec([(
            "INSERT INTO creator_flags (creator, event, wire, digest, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (creator, event) DO UPDATE SET"
            " wire = excluded.wire, digest = excluded.digest, issued_at = excluded.issued_at,"
            " expires_at = excluded.expires_at",
            (flags.creator, flags.event, flags.wire, flags.digest, flags.issued_at,
             flags.expires_at),
        )])  # fmt: skip

    async def flags(self, creator: str, event: str) -> StoredFlags | None:
        """The creator/event's signed flag set, or None."""
        rows = await self._all(
            "SELECT creator, event, wire, digest, issued_at, expires_at FROM creator_flags"
            " WHERE creator = ? AND event = ?",
            (creator, event),
        )
        if not rows:
            return None
        c, e, wire, digest, issued, expires = rows[0]
        return StoredFlags(str(c), str(e), str(wire), str(digest), int(issued), int(expires))

    async def add_decisions(self, decisions: Sequence[EdgeDecision]) -> int:
        """Store decisions (a repeat of one is ignored: a decision is never changed)."""
        sql = (
            "INSERT INTO edge_decisions (device, bundle, flag, variant, at, verdict, reason,"
            " figures) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (device, bundle, flag, variant) DO NOTHING"
        )
        if decisions:
            await self._exec(
                [(sql, (d.device, d.bundle, d.flag, d.variant, d.at, d.verdict, d.reason,
                        d.figures)) for d in decisions]
            )  # fmt: skip
        return len(decisions)

    async def decisions(self, devices: Sequence[str]) -> list[EdgeDecision]:
        """The decisions of these devices, oldest first."""
        if not devices:
            return []
        marks = ", ".join("?" for _ in devices)
        sql = (
            "SELECT device, bundle, flag, variant, at, verdict, reason, figures"  # noqa: S608 - marks
            f" FROM edge_decisions WHERE device IN ({marks}) ORDER BY at, device, flag, variant"
        )
        rows = await self._all(sql, tuple(devices))
        return [EdgeDecision(*map(str, row)) for row in rows]

    async def all_decisions(self) -> list[EdgeDecision]:
        """Every stored decision (for /metrics)."""
        rows = await self._all(
            "SELECT device, bundle, flag, variant, at, verdict, reason, figures"
            " FROM edge_decisions ORDER BY at"
        )
        return [EdgeDecision(*map(str, row)) for row in rows]

    async def receipt_rows(self, device: str) -> list[tuple[str, str]]:
        """The device's synced receipt lines and items, by seq."""
        rows = await self._all(
            "SELECT line, items FROM receipts WHERE device = ? ORDER BY seq", (device,)
        )
        return [(str(line), str(items)) for line, items in rows]

    async def funnel_rows(self, device: str) -> list[tuple[str, int, int, int, int]]:
        """The device's synced funnel minutes (minute, menu, cart, ordered, paid), by minute."""
        rows = await self._all(
            "SELECT minute, menu, cart, ordered, paid FROM funnel WHERE device = ? ORDER BY minute",
            (device,),
        )
        return [(str(m), int(a), int(b), int(c), int(d)) for m, a, b, c, d in rows]

    async def conversion_rows(self, device: str) -> list[tuple[str, Latencies]]:
        """The device's synced conversion latency histograms per funnel minute, by minute."""
        rows = await self._all(
            "SELECT minute, buckets, sum_ms FROM funnel_latency WHERE device = ? ORDER BY minute",
            (device,),
        )
        return [(str(m), Latencies.parse(str(b), int(s))) for m, b, s in rows]

    async def all_conversion_rows(self) -> list[tuple[str, Latencies]]:
        """Every device's conversion latency histograms, (device, histogram) per minute."""
        rows = await self._all("SELECT device, buckets, sum_ms FROM funnel_latency ORDER BY 1")
        return [(str(d), Latencies.parse(str(b), int(s))) for d, b, s in rows]

    async def forget_device(self, device: str) -> int:
        """Delete a deleted device's event assignment and decisions; return the rows deleted."""
        found = await self._all(
            "SELECT (SELECT count(*) FROM edge_decisions WHERE device = ?)"
            " + (SELECT count(*) FROM creator_devices WHERE device = ?)",
            (device, device),
        )
        await self._exec(
            [("DELETE FROM edge_decisions WHERE device = ?", (device,)),
             ("DELETE FROM creator_devices WHERE device = ?", (device,))]
        )  # fmt: skip
        return int(found[0][0])
