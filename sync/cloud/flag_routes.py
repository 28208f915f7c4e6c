"""The cloud's flag routes: a creator's flag set in (admin), each box's bundle out, decisions up.

- `PUT /api/creators/{creator}/events/{event}/flags` (admin token; `?ttl_s=` optional): a flagd
  document in; checked, signed for `creator/event` with the flags key and stored; 200 with the
  scope, key id, window and SHA-256 of the wire form. A bad document is 422 naming the flag.
- `GET /v1/devices/{device}/flags` (device token): the signed bundle of the event the box is
  assigned to, byte for byte as signed, with an ETag (its SHA-256); `If-None-Match` with it
  gives 304. 404 if the box serves no event or the event has no flags.
- `POST /v1/devices/{device}/flag-decisions` (device token): the box's canary decisions
  (sync/flag_wire.py); stored once each (a repeat is ignored).
- `GET /metrics`: Prometheus text exposition format 0.0.4 (public, as a node's /metrics is).

Registered by one line in app.py (`*flag_routes.routes()`).
"""

from __future__ import annotations

import json
import re
from collections import Counter

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync.cloud.creator_store import CreatorTables, EdgeDecision
from sync.cloud.creators import CreatorKeys, check_id, put_flag_set, scope_of
from sync.cloud.guards import read_body, require_admin
from sync.cloud.latency_view import prometheus_lines
from sync.errors import AuthError, BatchInvalid
from sync.flag_wire import MAX_DECISIONS_BYTES, DecisionBatch, DecisionsStored

MAX_FLAGS_BYTES = 200 * 1024  # a signed bundle is at most 256 KiB (appliance/flags/bundle.py)
JSON = "application/json"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
_decisions = msgspec.json.Decoder(DecisionBatch)
_DEVICE_ID = re.compile(r"[a-z2-7]{10}")


def tables_of(request: Request) -> CreatorTables:
    """The app's creator tables (one per app, over the cloud's store)."""
    tables: CreatorTables = request.app.state.creator_tables
    return tables


def keys_of(request: Request) -> CreatorKeys:
    """The app's flags key and session secret."""
    keys: CreatorKeys = request.app.state.creator_keys
    return keys


async def put_flags(request: Request) -> Response:
    """PUT /api/creators/{creator}/events/{event}/flags (admin): sign and keep a flag set."""
    require_admin(request)
    creator = check_id(request.path_params["creator"], "creator")
    event = check_id(request.path_params["event"], "event")
    text = request.query_params.get("ttl_s", "604800")
    if not text.isdigit() or len(text) > 9:
        raise BatchInvalid("ttl_s: a whole number of seconds", 422)
    try:
        document = json.loads(await read_body(request, MAX_FLAGS_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BatchInvalid(f"body: not a JSON flagd document ({exc})") from None
    stored = await put_flag_set(
        tables_of(request), keys_of(request), creator, event, document, ttl_s=int(text)
    )
    answer = {
        "scope": scope_of(creator, event), "kid": keys_of(request).kid,
        "issued_at": stored.issued_at, "expires_at": stored.expires_at, "sha256": stored.digest,
    }  # fmt: skip
    return Response(json.dumps(answer), media_type=JSON)


async def _device(request: Request) -> str:
    device: str = request.path_params["device"]
    if not _DEVICE_ID.fullmatch(device):
        raise BatchInvalid(f"device: {device[:40]!r} is not a device id", 404)
    record = await request.app.state.cloud.authenticate(
        device, request.headers.get("authorization")
    )
    if record.revoked:
        raise AuthError(f"Authorization: device {device} was revoked", 403)
    return str(record.device)


async def device_flags(request: Request) -> Response:
    """GET /v1/devices/{device}/flags (device token): its event's signed bundle, as signed."""
    device = await _device(request)
    tables = tables_of(request)
    assigned = await tables.assignment(device)
    if assigned is None:
        raise BatchInvalid(f"device: {device} serves no creator's event (creator assign)", 404)
    stored = await tables.flags(assigned.creator, assigned.event)
    if stored is None:
        raise BatchInvalid(f"flags: {scope_of(assigned.creator, assigned.event)} has none", 404)
    etag = f'"{stored.digest}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(stored.wire.encode(), media_type=JSON, headers=headers)


async def flag_decisions(request: Request) -> Response:
    """POST /v1/devices/{device}/flag-decisions (device token): the box's canary decisions."""
    device = await _device(request)
    batch = _decisions.decode(await read_body(request, MAX_DECISIONS_BYTES))
    if batch.v != 1:
        raise BatchInvalid(f"v: {batch.v}: this cloud speaks 1", 422)
    rows = [
        EdgeDecision(device, d.bundle, d.flag, d.variant, d.at, d.verdict, d.reason, d.figures)
        for d in batch.decisions
    ]
    stored = await tables_of(request).add_decisions(rows)
    return Response(msgspec.json.encode(DecisionsStored(stored)), media_type=JSON)


def _escape(value: str) -> str:
    """A label value escaped as the exposition format asks: backslash, quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def metrics(request: Request) -> Response:
    """GET /metrics: devices, log size, creators, the boxes' edge decisions and conversion
    latencies (Prometheus)."""
    cloud = request.app.state.cloud
    tables = tables_of(request)
    devices = await cloud.store.devices()
    decisions = Counter((d.verdict, d.flag) for d in await tables.all_decisions())
    lines = [
        "# HELP stallbox_cloud_devices Devices enrolled (revoked ones included).",
        "# TYPE stallbox_cloud_devices gauge",
        f"stallbox_cloud_devices {len(devices)}",
        "# HELP stallbox_cloud_log_size Leaves in the transparency log.",
        "# TYPE stallbox_cloud_log_size gauge",
        f"stallbox_cloud_log_size {await cloud.store.tree_size()}",
        "# HELP stallbox_cloud_creators Creators registered.",
        "# TYPE stallbox_cloud_creators gauge",
        f"stallbox_cloud_creators {len(await tables.creators())}",
        "# HELP stallbox_cloud_edge_decisions_total Canary decisions the boxes took and synced.",
        "# TYPE stallbox_cloud_edge_decisions_total counter",
    ]
    for (verdict, flag), count in sorted(decisions.items()):
        lines.append(
            f'stallbox_cloud_edge_decisions_total{{flag="{_escape(flag)}",'
            f'verdict="{_escape(verdict)}"}} {count}'
        )
    lines += prometheus_lines(await tables.all_conversion_rows())
    return Response("\n".join(lines) + "\n", media_type=PROMETHEUS)


def routes() -> list[BaseRoute]:
    """The flag routes and /metrics."""
    return [
        Route("/api/creators/{creator}/events/{event}/flags", put_flags, methods=["PUT"]),
        Route("/v1/devices/{device}/flags", device_flags),
        Route("/v1/devices/{device}/flag-decisions", flag_decisions, methods=["POST"]),
        Route("/metrics", metrics),
    ]
