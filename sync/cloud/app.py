"""The cloud's Starlette app: the sync protocol's endpoints (appliance/ledger/wire.py), /api/devices, /v.

Thin: parse (msgspec, strict), authenticate, call `Cloud`, render. Bad input is a 4xx JSON
Problem naming the field (400 not JSON, 413 too big, 422 wrong type); auth 401/403; a refused
batch 409 with a Conflict; anything unexpected is logged once and answered with a generic 500.
Every 2xx to a batch goes out only after the store's durable commit.
"""

from __future__ import annotations

import logging
import re
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
from appliance.ledger.wire import (
    MAX_BATCH_BYTES,
    MAX_INT,
    Batch,
    BatchAck,
    Conflict,
    EnrolRequest,
    FunnelBatch,
    Problem,
    encode,
)
from sync.cloud import dashboard, flag_routes, pass_overs, passes, restore
from sync.cloud.creator_store import CreatorTables
from sync.cloud.creators import CreatorKeys
from sync.cloud.events import log_event
from sync.cloud.guards import read_body, require_admin
from sync.cloud.rollback import MAX_NOTE
from sync.cloud.service import Cloud
from sync.cloud.sessions import Attempts
from sync.errors import AuthError, BatchInvalid, EnrolRefused, LogError

JSON = "application/json"
MAX_ENROL_BYTES = 8 * 1024
VERIFY_PAGE = Path(__file__).with_name("verify.html")
FAVICON = Path(__file__).with_name("favicon.svg")
_batch = msgspec.json.Decoder(Batch)
_funnel = msgspec.json.Decoder(FunnelBatch)
_enrol = msgspec.json.Decoder(EnrolRequest)
_DEVICE_ID = re.compile(r"[a-z2-7]{10}")  # appliance.ledger.identity.key_id: base32, 10 characters
_DECIMAL = re.compile(r"[0-9]{1,16}")
_DIGEST = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256, unpadded
log = logging.getLogger(__name__)


def problem(status: int, error: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON Problem body."""
    return Response(encode(Problem(error)), status, headers, JSON)


def client_error(
    request: Request, status: int, error: str, headers: dict[str, str] | None = None
) -> Response:
    """A 4xx Problem, and one structured log line saying so (never a traceback)."""
    log_event(
        log, "client_error", status=status, method=request.method, path=request.url.path,
        error=error,
    )  # fmt: skip
    return problem(status, error, headers)


def _device(request: Request, name: str = "device") -> str:
    """The device id in the path; 404 naming it if it cannot be one (no store is asked)."""
    device: str = request.path_params[name]
    if not _DEVICE_ID.fullmatch(device):
        raise BatchInvalid(f"{name}: {device[:40]!r} is not a device id", 404)
    return device


def _seq(request: Request) -> int:
    """The seq in the path; 404 if no receipt can have it (not a number, or past MAX_INT)."""
    text: str = request.path_params["seq"]
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_INT:
        raise BatchInvalid(f"seq: {text[:40]!r} is not a seq (0 to {MAX_INT})", 404)
    return int(text)


def _json(value: msgspec.Struct | Sequence[msgspec.Struct], status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status, media_type=JSON)


def _cloud(request: Request) -> Cloud:
    cloud: Cloud = request.app.state.cloud
    return cloud


async def enrol(request: Request) -> Response:
    """POST /v1/enrol: a one-time token and a public key in, a device id and API token out."""
    body = _enrol.decode(await read_body(request, MAX_ENROL_BYTES))
    return _json(await _cloud(request).enrol(body), 201)


async def head(request: Request) -> Response:
    """GET /v1/devices/{device}/head (device token)."""
    cloud = _cloud(request)
    record = await cloud.authenticate(_device(request), request.headers.get("authorization"))
    return _json(await cloud.head(record))


async def receipts(request: Request) -> Response:
    """POST /v1/devices/{device}/receipts (device token): a Batch in, a BatchAck or 409 out."""
    cloud = _cloud(request)
    record = await cloud.authenticate(_device(request), request.headers.get("authorization"))
    batch = _batch.decode(await read_body(request, MAX_BATCH_BYTES))
    return _answer(request, await cloud.ingest(record, batch))


def _answer(request: Request, answer: BatchAck | Conflict) -> Response:
    """200 with the ack, or 409 with the Conflict and one structured log line about it."""
    if not isinstance(answer, Conflict):
        return _json(answer)
    log_event(
        log, "batch_refused", logging.WARNING, status=409, path=request.url.path,
        reason=answer.reason, seq=answer.seq, head=answer.head.seq, error=answer.error,
    )  # fmt: skip
    return _json(answer, 409)


async def funnel(request: Request) -> Response:
    """POST /v1/devices/{device}/funnel (device token): funnel minutes in, how many stored out."""
    cloud = _cloud(request)
    record = await cloud.authenticate(_device(request), request.headers.get("authorization"))
    batch = _funnel.decode(await read_body(request, MAX_BATCH_BYTES))
    return _json(await cloud.put_funnel(record, batch))


async def relayed(request: Request) -> Response:
    """POST /v1/relay/devices/{origin}/receipts (the relay's token): the origin's Batch, unchanged.

    Checked exactly as if the origin had sent it, against the origin's enrolled key: a relay
    that alters a receipt gets a 409 and the origin's quarantine names the relay.
    """
    cloud = _cloud(request)
    relay, origin = await cloud.authenticate_relay(
        _device(request, "origin"), request.headers.get("authorization")
    )
    batch = _batch.decode(await read_body(request, MAX_BATCH_BYTES))
    return _answer(request, await cloud.ingest(origin, batch, relay))


async def device_key(request: Request) -> Response:
    """GET /v1/devices/{device}/key (public)."""
    device = _device(request)
    found = await _cloud(request).key(device)
    if found is None:
        return client_error(request, 404, f"device: {device} is not enrolled")
    return _json(found)


def _receipt_path(request: Request) -> tuple[str, int, str]:
    digest: str = request.path_params["digest"]
    if not _DIGEST.fullmatch(digest):
        raise BatchInvalid("digest: not the base64url SHA-256 of a receipt line", 404)
    return _device(request), _seq(request), digest


async def entry(request: Request) -> Response:
    """GET /v1/devices/{device}/receipts/{seq}/{digest} (public): where a receipt sits in the log.

    `digest` is the SHA-256 of the receipt's own line: only whoever holds the line finds it.
    """
    device, seq, digest = _receipt_path(request)
    found = await _cloud(request).entry(device, seq, digest)
    if found is None:
        return client_error(request, 404, f"receipt: the cloud holds no such receipt of {device}")
    return _json(found)


async def evidence(request: Request) -> Response:
    """GET /v1/devices/{device}/receipts/{seq}/{digest}/evidence (public): a sale's evidence."""
    device, seq, digest = _receipt_path(request)
    found = await _cloud(request).evidence(device, seq, digest)
    if found is None:
        return client_error(request, 404, f"receipt: the cloud holds no such sale of {device}")
    return _json(found)


async def checkpoint(request: Request) -> Response:
    """GET /v1/checkpoint: the latest signed checkpoint (a C2SP signed note)."""
    _, _, note = await _cloud(request).checkpoint()
    return Response(note, media_type="text/plain; charset=utf-8")


def _int_param(request: Request, name: str) -> int:
    text = request.query_params.get(name, "")
    if not _DECIMAL.fullmatch(text) or int(text) > MAX_INT:
        raise BatchInvalid(f"{name}: an integer from 0 to {MAX_INT} is needed")
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
    """GET /v1/log: the current epoch's origin and verifier key."""
    return _json(await _cloud(request).log_info())


async def log_epochs(request: Request) -> Response:
    """GET /v1/log/epochs: the current epoch and every one so far (rollbacks, announced)."""
    return _json(await _cloud(request).status())


async def log_checkpoint(request: Request) -> Response:
    """POST /v1/log/checkpoints: a checkpoint this log signed; one it no longer holds begins
    a new epoch. Public: only this log's key can sign what proves a rollback."""
    body = await read_body(request, MAX_NOTE)
    try:
        note = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchInvalid("checkpoint: not UTF-8 text") from None
    return _json(await _cloud(request).report_checkpoint(note))


async def devices(request: Request) -> Response:
    """GET /api/devices (admin token): every device, its head and its last problem."""
    require_admin(request)
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
    return client_error(request, 422, f"{field}: {what}" if field else what)


async def _decode(request: Request, exc: Exception) -> Response:
    return client_error(request, 400, f"body: not valid JSON ({exc})")


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BatchInvalid)
    return client_error(request, exc.status, str(exc))


async def _auth(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    return client_error(request, exc.status, str(exc), {"WWW-Authenticate": "Bearer"})


async def _refused(request: Request, exc: Exception) -> Response:
    status = 403 if str(exc).startswith("token:") else 400
    return client_error(request, status, str(exc))


async def _log(request: Request, exc: Exception) -> Response:
    return client_error(request, 400, str(exc))


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return client_error(request, exc.status_code, exc.detail, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer and uvicorn logs it once, with the traceback.
    return problem(500, "internal error; the cloud logged it")


def create_app(
    cloud: Cloud,
    admin_token: str,
    *,
    on_close: Callable[[], Awaitable[None]] | None = None,
    creators: CreatorKeys | None = None,
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
        Route("/v1/devices/{device}/receipts/{seq}/{digest}", entry),
        Route("/v1/devices/{device}/receipts/{seq}/{digest}/evidence", evidence),
        Route("/v1/checkpoint", checkpoint),
        Route("/v1/proof/inclusion", inclusion),
        Route("/v1/proof/consistency", consistency),
        Route("/v1/log", log_info),
        Route("/v1/log/epochs", log_epochs),
        Route("/v1/log/checkpoints", log_checkpoint, methods=["POST"]),
        Route("/api/devices", devices),
        Route("/healthz", healthz),
        Route("/v", verify_page),
        Route("/favicon.svg", favicon),
        Route("/favicon.ico", favicon),
        *restore.routes(),  # a box's own ledger back, device token (issue 22)
        *flag_routes.routes(),
        *dashboard.routes(),  # creators' flags and dashboard (issue 20)
        *passes.routes(),  # fan passes: issue, delegate, revoke (admin); trust (device)
        *pass_overs.routes(),  # over-redemptions of passes the boxes found
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
    app.state.creator_keys = creators or CreatorKeys.ephemeral()  # flags key, session secret
    app.state.creator_tables, app.state.login_attempts = CreatorTables(cloud.store), Attempts()
    return app
