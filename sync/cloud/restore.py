"""A device's own ledger, read back from the cloud: what `stallbox restore --from-cloud` fetches.

`GET /v1/devices/{device}/ledger?after=SEQ&limit=N` answers with the device's receipts (line and
items, as it sent them) after SEQ, in order, at most N (1-1000). It is authenticated exactly
like the upload (the device's own Bearer token, `Cloud.authenticate`), so only the box that
holds the device's token reads its whole ledger back; it is not a public route. The box trusts
none of it: every signature and every link is checked before a byte is written
(appliance/services/restore.py).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.ledger.wire import WireReceipt

MAX_PAGE = 1000
MAX_SEQ = 10**10  # the receipt grammar's seq is at most 10 digits
_NUMBER = re.compile(r"-1|0|[1-9]\d{0,9}")


class LedgerPage(msgspec.Struct, frozen=True):
    """Receipts after `after`, in seq order; `more` when the page was full."""

    device: str
    after: int
    receipts: list[WireReceipt]
    more: bool


SQLITE = "SELECT seq, line, items FROM receipts WHERE device = ? AND seq > ? ORDER BY seq LIMIT ?"
POSTGRES = SQLITE.replace("?", "%s")


async def device_receipts(store: Any, device: str, after: int, limit: int) -> list[WireReceipt]:
    """The device's stored receipts after `after`, at most `limit`, from either store."""
    own = getattr(store, "device_receipts", None)
    if own is not None:  # a store that offers it itself
        found: list[WireReceipt] = await own(device, after, limit)
        return found
    args = (device, after, limit)
    if hasattr(store, "_run"):  # SqliteStore
        rows = await store._run(lambda c: c.execute(SQLITE, args).fetchall())
    else:  # PostgresStore
        async with store._conn() as conn:
            rows = await (await conn.execute(POSTGRES, args)).fetchall()
    return [WireReceipt(int(seq), str(line), str(items)) for seq, line, items in rows]


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name, str(default))
    if not _NUMBER.fullmatch(text) or not low <= int(text) <= high:
        raise msgspec.ValidationError(f"must be a whole number {low}-{high} - at `$.{name}`")
    return int(text)


async def ledger(request: Request) -> Response:
    """GET /v1/devices/{device}/ledger (device token): the device's receipts after ?after=."""
    cloud = request.app.state.cloud
    record = await cloud.authenticate(
        request.path_params["device"], request.headers.get("authorization")
    )
    after = _query_int(request, "after", -1, -1, MAX_SEQ)
    limit = _query_int(request, "limit", MAX_PAGE, 1, MAX_PAGE)
    found = await device_receipts(cloud.store, record.device, after, limit)
    page = LedgerPage(record.device, after, found, len(found) == limit)
    return Response(msgspec.json.encode(page), media_type="application/json")


def routes() -> list[BaseRoute]:
    """The device-scoped restore route (registered by one line in app.py)."""
    return [Route("/v1/devices/{device}/ledger", ledger)]
