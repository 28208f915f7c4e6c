"""Over-redemptions of passes at the cloud: what boxes found when they met again, for the creator.

`POST /v1/devices/{device}/pass-overs` (the device's token, like its receipts) stores the
over-redemptions a box found (sync/pass_overs.py ships them); `GET /api/passes/over-redemptions`
(the admin token) lists them per pass and period, with the largest count any box reported and
which boxes reported it. They live in the cloud's store (SQLite or PostgreSQL, so every cloud
process sharing a database sees them), in table `pass_overs`, created on first use the way
sync/cloud/creator_store.py keeps its tables: a report, not a receipt of the log. Registered by
one line in sync/cloud/app.py.
"""

from __future__ import annotations

import html

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync.cloud.creator_store import CreatorTables
from sync.cloud.guards import require_admin
from sync.errors import BatchInvalid
from sync.pass_overs import MAX_OVERS, OverBatch

MAX_BODY = 256 * 1024
MAX_TEXT = 200
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pass_overs (device TEXT NOT NULL, pass_id TEXT NOT NULL,"
    " period TEXT NOT NULL, used BIGINT NOT NULL, allowance BIGINT NOT NULL,"
    " found_at TEXT NOT NULL, PRIMARY KEY (device, pass_id, period))",
)


class OverStored(msgspec.Struct, frozen=True):
    """How many the cloud stored."""

    stored: int


class OverSeen(msgspec.Struct, frozen=True):
    """An over-redemption as the cloud knows it, from every box that reported it."""

    pass_id: str
    period: str
    used: int  # the largest count a box reported
    allowance: int
    devices: list[str]
    first_found_at: str


class PassOverTables(CreatorTables):
    """The over-redemptions boxes reported, on a CloudStore (SQLite or PostgreSQL)."""

    schema = SCHEMA

    async def store_overs(self, device: str, batch: OverBatch) -> int:
        """Keep a box's over-redemptions (a larger count replaces a smaller); return how many."""
        sql = (
            "INSERT INTO pass_overs (device, pass_id, period, used, allowance, found_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, pass_id, period) DO UPDATE SET"
            " used = excluded.used, allowance = excluded.allowance"
            " WHERE excluded.used > pass_overs.used"
        )
        if batch.overs:
            await self._exec(
                [(sql, (device, o.pass_id, o.period, o.used, o.allowance, o.found_at))
                 for o in batch.overs]
            )  # fmt: skip
        return len(batch.overs)

    async def overs(self, devices: list[str] | None = None) -> list[OverSeen]:
        """Every over-redemption reported (by these devices, if named), by pass and period."""
        if devices is not None and not devices:
            return []
        where, args = "", tuple[str, ...]()
        if devices is not None:
            where, args = f" WHERE device IN ({', '.join('?' for _ in devices)})", tuple(devices)
        rows = await self._all(
            "SELECT pass_id, period, used, allowance, device, found_at"  # noqa: S608 - marks
            f" FROM pass_overs{where} ORDER BY pass_id, period, device",
            args,
        )
        seen: dict[tuple[str, str], OverSeen] = {}
        for pass_id, period, used, allowance, device, found_at in rows:
            key = (str(pass_id), str(period))
            was = seen.get(key)
            if was is None:
                seen[key] = OverSeen(*key, int(used), int(allowance), [str(device)], str(found_at))
            else:
                seen[key] = OverSeen(
                    *key, max(was.used, int(used)), max(was.allowance, int(allowance)),
                    [*was.devices, str(device)], min(was.first_found_at, str(found_at)),
                )  # fmt: skip
        return list(seen.values())


def overs_section(overs: list[OverSeen]) -> str:
    """The dashboard's "Pass over-redemptions" section for an event's boxes (empty if none)."""
    if not overs:
        return ""
    rows = "".join(
        f'<tr data-pass-over="{html.escape(o.pass_id)}"><td><code>{html.escape(o.pass_id)}</code>'
        f"</td><td>{html.escape(o.period)}</td><td>{o.used} of {o.allowance}</td>"
        f"<td>{html.escape(', '.join(o.devices))}</td><td>{html.escape(o.first_found_at)}</td></tr>"
        for o in overs
    )
    return (
        '<section id="pass-overs"><h2>Pass over-redemptions</h2><table><tr><th>pass</th>'
        "<th>period</th><th>used</th><th>boxes</th><th>found</th></tr>"
        f"{rows}</table></section>"
    )


def tables_of(request: Request) -> PassOverTables:
    """The app's over-redemption tables (made on first use, on the cloud's store)."""
    tables: PassOverTables | None = getattr(request.app.state, "pass_over_tables", None)
    if tables is None:
        tables = request.app.state.pass_over_tables = PassOverTables(request.app.state.cloud.store)
    return tables


def _check(batch: OverBatch) -> None:
    if len(batch.overs) > MAX_OVERS:
        raise BatchInvalid(f"overs: at most {MAX_OVERS}")
    for i, o in enumerate(batch.overs):
        if not all(0 < len(t) <= MAX_TEXT for t in (o.pass_id, o.period, o.found_at)):
            raise BatchInvalid(f"overs[{i}]: pass_id, period, found_at of 1-{MAX_TEXT} chars")
        if not 0 < o.allowance < o.used <= 10**9:
            raise BatchInvalid(f"overs[{i}]: used must exceed allowance (both from 1)")


async def report(request: Request) -> Response:
    """POST /v1/devices/{device}/pass-overs (device token): a box's over-redemptions in."""
    cloud = request.app.state.cloud
    record = await cloud.authenticate(
        request.path_params["device"], request.headers.get("authorization")
    )
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BatchInvalid(f"body: more than {MAX_BODY} bytes", 413)
    batch = msgspec.json.decode(raw, type=OverBatch)
    _check(batch)
    stored = await tables_of(request).store_overs(record.device, batch)
    return Response(msgspec.json.encode(OverStored(stored)), media_type="application/json")


async def over_redemptions(request: Request) -> Response:
    """GET /api/passes/over-redemptions (admin token): every over-redemption boxes reported."""
    require_admin(request)
    seen = await tables_of(request).overs()
    return Response(msgspec.json.encode(seen), media_type="application/json")


def routes() -> list[BaseRoute]:
    """The pass report routes."""
    return [
        Route("/v1/devices/{device}/pass-overs", report, methods=["POST"]),
        Route("/api/passes/over-redemptions", over_redemptions),
    ]
