"""Over-redemptions of passes at the cloud: what boxes found when they met again, for the creator.

`POST /v1/devices/{device}/pass-overs` (the device's token, like its receipts) stores the
over-redemptions a box found (sync/pass_overs.py ships them); `GET /api/passes/over-redemptions`
(the admin token) lists them per pass and period, with the largest count any box reported and
which boxes reported it. They live in `pass_overs.sqlite` in the cloud's state dir, beside the
log's store (whichever backend that is): a report, not a receipt of the log. Registered by one
line in sync/cloud/app.py.
"""

from __future__ import annotations

import asyncio
import hmac
import sqlite3
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync.errors import AuthError, BatchInvalid
from sync.pass_overs import MAX_OVERS, OverBatch

FILE = "pass_overs.sqlite"
MAX_BODY = 256 * 1024
MAX_TEXT = 200
SCHEMA = """
CREATE TABLE IF NOT EXISTS pass_overs (
    device    TEXT NOT NULL,
    pass_id   TEXT NOT NULL,
    period    TEXT NOT NULL,
    used      INTEGER NOT NULL,
    allowance INTEGER NOT NULL,
    found_at  TEXT NOT NULL,
    PRIMARY KEY (device, pass_id, period)
) STRICT
"""


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


def _open(state: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(state / FILE, timeout=10)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(SCHEMA)
    return conn


def store(state: Path, device: str, batch: OverBatch) -> int:
    """Keep a box's over-redemptions (a larger count replaces a smaller); return how many."""
    conn = _open(state)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO pass_overs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " used = excluded.used, allowance = excluded.allowance"
                " WHERE excluded.used > pass_overs.used",
                [
                    (device, o.pass_id, o.period, o.used, o.allowance, o.found_at)
                    for o in batch.overs
                ],
            )
        return len(batch.overs)
    finally:
        conn.close()


def listed(state: Path) -> list[OverSeen]:
    """Every over-redemption reported, by pass and period."""
    conn = _open(state)
    try:
        rows = conn.execute(
            "SELECT pass_id, period, max(used), max(allowance), group_concat(device, ' '),"
            " min(found_at) FROM pass_overs GROUP BY pass_id, period ORDER BY pass_id, period"
        ).fetchall()
    finally:
        conn.close()
    return [OverSeen(p, q, u, a, sorted(d.split()), f) for p, q, u, a, d, f in rows]


def _state(request: Request) -> Path:
    state: Path | None = getattr(request.app.state, "state_dir", None)
    if state is None:
        raise BatchInvalid("this cloud keeps no pass reports (no state dir)", 503)
    return state


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
    stored = await asyncio.to_thread(store, _state(request), record.device, batch)
    return Response(msgspec.json.encode(OverStored(stored)), media_type="application/json")


async def over_redemptions(request: Request) -> Response:
    """GET /api/passes/over-redemptions (admin token): every over-redemption boxes reported."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    admin: str = request.app.state.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), admin):
        raise AuthError("Authorization: the admin token is needed (Bearer)")
    seen = await asyncio.to_thread(listed, _state(request))
    return Response(msgspec.json.encode(seen), media_type="application/json")


def routes() -> list[BaseRoute]:
    """The pass report routes."""
    return [
        Route("/v1/devices/{device}/pass-overs", report, methods=["POST"]),
        Route("/api/passes/over-redemptions", over_redemptions),
    ]
