"""The cloud's Starlette app: the sync protocol's endpoints (sync/protocol.py), /api/devices, /v.

Thin: parse (msgspec, strict), authenticate, call `Cloud`, render. Bad input is a 4xx JSON
Problem naming the field (400 not JSON, 413 too big, 422 wrong type); auth 401/403; a refused
batch 409 with a Conflict; anything unexpected is logged once and answered with a generic 500.
Every 2xx to a batch goes out only after the store's durable commit.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appliance.errors import field_and_problem
from sync.cloud import restore
from sync.cloud.service import Cloud
from sync.errors import AuthError, BatchInvalid, EnrolRefused, LogError
from sync.protocol import (
    MAX_BATCH_BYTES,
    Batch,
    Conflict,
    EnrolRequest,
    FunnelBatch,
    Problem,
    encode,
)

JSON = "application/json"
MAX_ENROL_BYTES = 8 * 1024
VERIFY_PAGE = Path(__file__).with_name("verify.html")
FAVICON = Path(__file__).with_name("favicon.svg")
_batch = msgspec.json.Decoder(Batch)
_funnel = msgspec.json.Decoder(FunnelBatch)
_enrol = msgspec.json.Decoder(EnrolRequest)


def problem(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON Problem body."""
    return Response(encode(Problem(error)), status, headers, JSON)


def _json(value: msgspec.Struct | Sequence[msgspec.Struct], status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status, media_type=JSON)


async def _body(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) one over `limit` bytes before reading it all."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BatchInvalid(f"body: {length} bytes, at most {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BatchInvalid(f"body: more than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _cloud(request: Request) -> Cloud:
    cloud: Cloud = request.app.state.cloud
    return cloud


async def enrol(request: Request) -> Response:
    """POST /v1/enrol: a one-time token and a public key in, a device id and API token out."""
    body = _enrol.decode(await _body(request, MAX_ENROL_BYTES))
    return _json(await _cloud(request).enrol(body), 201)


async def head(request: Request) -> Response:
    """GET /v1/devices/{device}/head (device token)."""
    cloud = _cloud(request)
    record = await cloud.authenticate(
        request.path_params["device"], request.headers.get("authorization")
    )
    return _json(await cloud.head(record))


async def receipts(request: Request) -> Response:
    """POST /v1/devices/{device}/receipts (device token): a Batch in, a BatchAck or 409 out."""
    cloud = _cloud(request)
    record = await cloud.authenticate(
        request.path_params["device"], request.headers.get("authorization")
    )
    batch = _batch.decode(await _body(request, MAX_BATCH_BYTES))
    answer = await cloud.ingest(record, batch)
    return _json(answer, 409 if isinstance(answer, Conflict) else 200)


async def funnel(request: Request) -> Response:
    """POST /v1/devices/{device}/funnel (device token): funnel minutes in, how many stored out."""
    cloud = _cloud(request)
    record = await cloud.authenticate(
        request.path_params["device"], request.headers.get("authorization")
    )
    batch = _funnel.decode(await _body(request, MAX_BATCH_BYTES))
    return _json(await cloud.put_funnel(record, batch))


async def relayed(request: Request) -> Response:
    """POST /v1/relay/devices/{origin}/receipts (the relay's token): the origin's Batch, unchanged.

    Checked exactly as if the origin had sent it, against the origin's enrolled key: a relay
    that alters a receipt gets a 409 and the origin's quarantine names the relay.
    """
    cloud = _cloud(request)
    relay, origin = await cloud.authenticate_relay(
        request.path_params["origin"], request.headers.get("authorization")
    )
    batch = _batch.decode(await _body(request, MAX_BATCH_BYTES))
    answer = await cloud.ingest(origin, batch, relay)
    return _json(answer, 409 if isinstance(answer, Conflict) else 200)


async def device_key(request: Request) -> Response:
    """GET /v1/devices/{device}/key (public)."""
    found = await _cloud(request).key(request.path_params["device"])
    if found is None:
        return problem(404, f"device: {request.path_params['device']} is not enrolled")
    return _json(found)


async def entry(request: Request) -> Response:
    """GET /v1/devices/{device}/receipts/{seq} (public): where a receipt sits in the log."""
    device, seq = request.path_params["device"], request.path_params["seq"]
    found = await _cloud(request).entry(device, seq)
    if found is None:
        return problem(404, f"seq: the cloud holds no receipt {seq} of device {device}")
    return _json(found)


async def evidence(request: Request) -> Response:
    """GET /v1/devices/{device}/receipts/{seq}/evidence (public): a sale's payment evidence."""
    device, seq = request.path_params["device"], request.path_params["seq"]
    found = await _cloud(request).evidence(device, seq)
    if found is None:
        return problem(404, f"seq: the cloud holds no sale {seq} of device {device}")
    return _json(found)


async def checkpoint(request: Request) -> Response:
    """GET /v1/checkpoint: the latest signed checkpoint (a C2SP signed note)."""
    _, _, note = await _cloud(request).checkpoint()
    return Response(note, media_type="text/plain; charset=utf-8")


def _int_param(request: Request, name: str) -> int:
    text = request.query_params.get(name, "")
    if not text.isdigit():
        raise BatchInvalid(f"{name}: a non-negative integer is needed")
    return int(text)


async def inclusion(request: Request) -> Response:
    """GET /v1/proof/inclusion?index=I&size=N."""
    index, size = _int_param(request, "index"), _int_param(request, "size")
    return _json(await _cloud(request).inclusion(index, size))


async def consistency(request: Request) -> Response:
    """GET /v1/proof/consistency?first=M&size=N."""
    first, size = _int_param(request, "first"), _int_param(request, "size")
    return _json(await _cloud(request).consistency(first, size))


async def log_info(request: Request) -> Response:
    """GET /v1/log: the log's origin and verifier key."""
    return _json(_cloud(request).log)


async def devices(request: Request) -> Response:
    """GET /api/devices (admin token): every device, its head and its last problem."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    admin: str = request.app.state.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), admin):
        raise AuthError("Authorization: the admin token is needed (Bearer)")
    return _json(await _cloud(request).reports())


async def healthz(request: Request) -> Response:
    """Liveness: ok once the store is open."""
    return Response(b'{"ok":true}', media_type=JSON)


async def verify_page(request: Request) -> Response:
    """GET /v: the receipt page; the line comes in the fragment, /v#<receipt line>."""
    return Response(
        request.app.state.verify_page,
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
    )


async def favicon(request: Request) -> Response:
    """GET /favicon.svg (and /favicon.ico): the receipt page's icon, so no page load logs a 404."""
    return Response(
        request.app.state.favicon,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


async def _validation(request: Request, exc: Exception) -> Response:
    field, what = field_and_problem(str(exc))
    return problem(422, f"{field}: {what}" if field else what)


async def _decode(request: Request, exc: Exception) -> Response:
    return problem(400, f"body: not valid JSON ({exc})")


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BatchInvalid)
    return problem(exc.status, str(exc))


async def _auth(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    return problem(exc.status, str(exc), {"WWW-Authenticate": "Bearer"})


async def _refused(request: Request, exc: Exception) -> Response:
    status = 403 if str(exc).startswith("token:") else 400
    return problem(status, str(exc))


async def _log(request: Request, exc: Exception) -> Response:
    return problem(400, str(exc))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, exc.detail, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer and uvicorn logs it once, with the traceback.
    return problem(500, "internal error; the cloud logged it")


def create_app(
    cloud: Cloud,
    admin_token: str,
    *,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """Build the cloud's app around an open `Cloud`; `on_close` runs at shutdown (closes the store)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_close is not None:
                await on_close()

    routes = [
        Route("/v1/enrol", enrol, methods=["POST"]),
        Route("/v1/devices/{device}/head", head),
        Route("/v1/devices/{device}/receipts", receipts, methods=["POST"]),
        Route("/v1/devices/{device}/funnel", funnel, methods=["POST"]),
        Route("/v1/relay/devices/{origin}/receipts", relayed, methods=["POST"]),
        Route("/v1/devices/{device}/key", device_key),
        Route("/v1/devices/{device}/receipts/{seq:int}", entry),
        Route("/v1/devices/{device}/receipts/{seq:int}/evidence", evidence),
        Route("/v1/checkpoint", checkpoint),
        Route("/v1/proof/inclusion", inclusion),
        Route("/v1/proof/consistency", consistency),
        Route("/v1/log", log_info),
        Route("/api/devices", devices),
        Route("/healthz", healthz),
        Route("/v", verify_page),
        Route("/favicon.svg", favicon),
        Route("/favicon.ico", favicon),
        *restore.routes(),  # a box's own ledger back, device token (issue 22)
    ]
    handlers: dict[type[Exception] | int, Callable[..., object]] = {
        msgspec.ValidationError: _validation,
        msgspec.DecodeError: _decode,
        BatchInvalid: _invalid,
        AuthError: _auth,
        EnrolRefused: _refused,
        LogError: _log,
        HTTPException: _http,
        Exception: _unexpected,
    }
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.cloud = cloud
    app.state.admin_token = admin_token
    app.state.verify_page = VERIFY_PAGE.read_bytes()
    app.state.favicon = FAVICON.read_bytes()
    return app
