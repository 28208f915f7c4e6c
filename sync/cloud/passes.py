"""The cloud's pass routes: issuing for a creator (admin), and the trust documents boxes fetch.

Admin (the admin bearer token, as /api/devices):
  POST /api/creators/{creator}/passes       {"holder", "valid_days", "entitlements", "valid_from"?}
  POST /api/creators/{creator}/delegations  {"public_key" (64 hex), "label"?, "valid_days"?}
  POST /api/creators/{creator}/revocations  {"pass_id" (32 hex)}
Device (its own token, as the upload):
  GET /v1/devices/{device}/passes/trust?creator=ID   the signed revocation list and delegations

Bodies are bounded (MAX_BODY) and strict; bad input is a 4xx JSON Problem naming the field
(app.py's handlers). Signing touches files, so it runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sync.cloud.guards import read_body, require_admin
from sync.cloud.pass_vault import PassVault, creator_id, entitlement_of
from sync.errors import BatchInvalid

MAX_BODY = 16 * 1024
JSON = "application/json"


class IssueRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A pass to sign: its holder's label, how long it is valid, what it grants."""

    holder: str
    valid_days: int
    entitlements: list[dict[str, Any]]
    valid_from: int | None = None


class DelegateRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A box key to delegate to (raw Ed25519, 64 hex digits)."""

    public_key: str
    label: str = "box"
    valid_days: int = 365


class RevokeRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A pass to revoke, by its id (32 hex digits)."""

    pass_id: str


class IssueAnswer(msgspec.Struct, frozen=True):
    """The signed pass: its id, QR text and validity."""

    creator: str
    pass_id: str
    text: str
    valid_from: int
    valid_until: int


class DelegateAnswer(msgspec.Struct, frozen=True):
    """The delegation document (COSE_Sign1, base64)."""

    creator: str
    public_key: str
    delegation: str


class RevokeAnswer(msgspec.Struct, frozen=True):
    """The revocation list now: how many ids it names and its iat."""

    creator: str
    revoked: int
    iat: int


class TrustAnswer(msgspec.Struct, frozen=True):
    """A creator's trust documents for a box: revocation list (or null) and delegations, base64."""

    creator: str
    revocations: str | None
    delegations: list[str]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _vault(request: Request) -> PassVault:
    vault: PassVault | None = getattr(request.app.state, "pass_vault", None)
    if vault is None:
        raise BatchInvalid("passes: this cloud issues no passes", 404)
    return vault


def _admin(request: Request) -> str:
    """The creator in the path, once the admin token is checked."""
    require_admin(request)
    return creator_id(request.path_params["creator"])


async def _read(request: Request, kind: type[msgspec.Struct]) -> Any:
    return msgspec.json.decode(await read_body(request, MAX_BODY), type=kind)


def _json(value: msgspec.Struct, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status, media_type=JSON)


async def issue(request: Request) -> Response:
    """POST /api/creators/{creator}/passes (admin): sign a pass, answer its text."""
    creator = _admin(request)
    body: IssueRequest = await _read(request, IssueRequest)
    grants = [entitlement_of(e, f"entitlements[{i}]") for i, e in enumerate(body.entitlements)]
    if body.valid_from is not None and not 0 <= body.valid_from < 2**40:
        raise BatchInvalid("valid_from: Unix seconds", 422)
    done = await asyncio.to_thread(
        _vault(request).issue, creator, body.holder, body.valid_days, grants, body.valid_from
    )
    answer = IssueAnswer(creator, done.pass_id, done.text, done.valid_from, done.valid_until)
    return _json(answer, 201)


async def delegations(request: Request) -> Response:
    """POST /api/creators/{creator}/delegations (admin): delegate to a box key."""
    creator = _admin(request)
    body: DelegateRequest = await _read(request, DelegateRequest)
    document = await asyncio.to_thread(
        _vault(request).delegate, creator, body.public_key, body.label, body.valid_days
    )
    return _json(DelegateAnswer(creator, body.public_key, _b64(document)), 201)


async def revocations(request: Request) -> Response:
    """POST /api/creators/{creator}/revocations (admin): revoke a pass id, re-sign the list."""
    creator = _admin(request)
    body: RevokeRequest = await _read(request, RevokeRequest)
    count, iat = await asyncio.to_thread(_vault(request).revoke, creator, body.pass_id)
    return _json(RevokeAnswer(creator, count, iat))


async def trust(request: Request) -> Response:
    """GET /v1/devices/{device}/passes/trust?creator=ID (device token): a creator's documents."""
    await request.app.state.cloud.authenticate(
        request.path_params["device"], request.headers.get("authorization")
    )
    creator = creator_id(request.query_params.get("creator", ""), "creator (query)")
    docs = await asyncio.to_thread(_vault(request).trust, creator)
    revoked = None if docs.revocations is None else _b64(docs.revocations)
    return _json(TrustAnswer(creator, revoked, [_b64(d) for d in docs.delegations]))


def routes() -> list[BaseRoute]:
    """The pass routes (registered by one line in app.py)."""
    return [
        Route("/api/creators/{creator}/passes", issue, methods=["POST"]),
        Route("/api/creators/{creator}/delegations", delegations, methods=["POST"]),
        Route("/api/creators/{creator}/revocations", revocations, methods=["POST"]),
        Route("/v1/devices/{device}/passes/trust", trust),
    ]
