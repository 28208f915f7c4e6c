"""A full disk, as the node's HTTP answers say it: 507 for writes, a degraded /healthz.

Writes that find the state dir's disk full raise DiskFull in the store; here it becomes 507
Insufficient Storage (RFC 4918 §11.5) with the usual JSON error body on the operator API and
the relay, and a short page an attendee can read on the attendee pages. Reads go on as usual.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from appliance.api.attendee.attendee import page
from appliance.api.schemas import Problem

INSUFFICIENT_STORAGE = 507
JSON_PREFIXES = ("/api/", "/relay/", "/metrics")
OPERATOR_TEXT = "the box is out of storage: writes are refused until space is freed; reads work"


class HealthOut(msgspec.Struct, frozen=True):
    """GET /healthz: ok is false (and the status 503) only while the disk is full."""

    ok: bool
    storage: str  # "ok", "low" (below storage.warn_free_mb) or "full"
    free_bytes: int


def is_json_path(path: str) -> bool:
    """True for the operator API and the relay, whose clients read JSON errors."""
    return path.startswith(JSON_PREFIXES)


async def disk_full(request: Request, exc: Exception) -> Response:
    """507: JSON naming the state for API clients, a friendly page for attendees."""
    if is_json_path(request.url.path):
        body = msgspec.json.encode(Problem(OPERATOR_TEXT, None))
        return Response(body, INSUFFICIENT_STORAGE, media_type="application/json")
    return page(request, "storage_full.html", status=INSUFFICIENT_STORAGE)


async def healthz(request: Request) -> Response:
    """Liveness with the disk's state: 200 while writes work, 503 while the disk is full.

    systemd's watchdog is fed by the event loop, not by this answer, so a full disk never
    makes systemd restart the node (a restart would not free any space).
    """
    node = getattr(request.app.state, "node", None)
    if node is None:  # before the lifespan opened the store
        return Response(b'{"ok":true}', media_type="application/json")
    disk = node.storage()
    full = disk.state == "full"
    body = msgspec.json.encode(HealthOut(not full, disk.state, disk.free_bytes))
    return Response(body, 503 if full else 200, media_type="application/json")
