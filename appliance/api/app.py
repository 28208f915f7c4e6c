"""The node's two Starlette apps (planes), the lifespan that opens and closes the Node, errors.

Errors: bad input → 400/422 naming the field; unknown ids → 404; refused business rules → 409;
auth → 401; too many pairing tries → 429; a full disk → 507 (api/storage.py). Anything
unexpected is logged once and answered with a generic 500 — never a traceback to the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route

from appliance.api import storage
from appliance.api.attendee import attendee, display_pages, drop_pages
from appliance.api.attendee.fast_paths import AttendeeApp
from appliance.api.attendee.pass_sale_pages import routes as pass_sale_routes
from appliance.api.bounds import BodyLimits
from appliance.api.node import Node
from appliance.api.openapi import openapi_document
from appliance.api.operator import display_api, operator, relay
from appliance.api.schemas import Problem
from appliance.config import Config
from appliance.domain.errors import DomainError
from appliance.errors import field_and_problem
from appliance.services.pairing import PairingError, TooManyTries
from appliance.store.errors import DiskFull, NotFound


def problem(
    status: int, error: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A JSON error body."""
    return Response(msgspec.json.encode(Problem(error, field)), status, headers, "application/json")


async def _validation(request: Request, exc: Exception) -> Response:
    field, what = field_and_problem(str(exc))
    return problem(422, what, field or None)


async def _decode(request: Request, exc: Exception) -> Response:
    return problem(400, f"body is not valid JSON: {exc}")


async def _domain(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem(409, str(exc), exc.field)


async def _not_found(request: Request, exc: Exception) -> Response:
    return problem(404, str(exc))


async def _unauthorized(request: Request, exc: Exception) -> Response:
    if isinstance(exc, TooManyTries):
        return problem(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
    if request.url.path.startswith("/api/pair/"):
        return problem(401, str(exc))  # a refused pairing run: no token was involved
    return problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"})


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Allow: every method of every route on this path, not the first's
        allowed: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
                allowed |= route.methods or set()
        headers["Allow"] = ", ".join(sorted(allowed))
    return problem(exc.status_code, exc.detail, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer and uvicorn logs it once, with the traceback.
    return problem(500, "internal error; the node logged it")


async def openapi(request: Request) -> Response:
    """The operator API's OpenAPI document."""
    return Response(msgspec.json.encode(openapi_document()), media_type="application/json")


def attendee_routes() -> list[BaseRoute]:
    """The attendee plane's routes (plain HTTP), in match order: the pages phones load most first."""
    from appliance.api import pass_peers_api  # redemptions between boxes (docs/passes.md)

    return [
        *attendee.routes(), *drop_pages.routes(), *display_pages.routes(),
        *pass_sale_routes(), Route("/healthz", storage.healthz), *pass_peers_api.peer_routes(),
    ]  # fmt: skip


def operator_routes() -> list[BaseRoute]:
    """The operator plane's routes (TLS only); the OpenAPI document is built from these."""
    return [
        Route("/api/openapi.json", openapi), *operator.routes(), *display_api.routes(),
        *relay.routes(),
    ]  # fmt: skip


class Planes:
    """The node's two apps over one Node: attendees (plain HTTP) and operators (TLS only).

    No route is in both: every operator path on the attendee app is a 404 with a JSON body,
    so a phone (or a stranger) on the venue Wi-Fi reaches nothing of the operator API in
    cleartext. Each app's lifespan opens the shared Node if it is not open yet and the last one
    to stop closes it, so one process serving both opens the store once, and a test can drive
    either app alone (`app.router.lifespan_context(app)`). The on-box Unix socket serves
    `operator` as a third listener (appliance/api/server.py); /api/pair/local answers only there.
    """

    def __init__(
        self,
        config: Config,
        state_dir: Path,
        *,
        port: int,
        operator_port: int,
        advertise: bool = True,
        on_stopping: Callable[[], None] | None = None,
    ) -> None:
        self.config, self.state_dir = config, state_dir
        self.port, self.operator_port, self.advertise = port, operator_port, advertise
        self.on_stopping = on_stopping
        self.node: Node | None = None
        self._users = 0
        self._lock = asyncio.Lock()
        self.attendee = _starlette(attendee_routes(), self._lifespan, AttendeeApp)
        self.operator = _starlette(operator_routes(), self._lifespan)
        self.operator.state.prepare_drop = drop_pages.prepare_drop  # pages are the attendee's

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self._lock:
            if self.node is None:
                node = Node(self.config, self.state_dir)
                try:
                    await node.start(self.port, self.operator_port, advertise=self.advertise)
                except BaseException:
                    await node.close()
                    raise
                self.node = node
            self._users += 1
        self.attendee.state.node = self.operator.state.node = self.node
        try:
            yield
        finally:
            async with self._lock:
                self._users -= 1
                if self.on_stopping is not None:
                    self.on_stopping()  # the first server to stop: tell systemd once
                    self.on_stopping = None
                if self._users == 0 and self.node is not None:
                    node, self.node = self.node, None
                    await node.close()


def _starlette(
    routes: list[BaseRoute],
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]],
    kind: type[Starlette] = Starlette,
) -> Starlette:
    handlers: dict[type[Exception] | int, Callable[..., object]] = {
        msgspec.ValidationError: _validation,
        msgspec.DecodeError: _decode,
        DomainError: _domain,
        NotFound: _not_found,
        PairingError: _unauthorized,
        relay.Refused: relay.refused,
        DiskFull: storage.disk_full,
        HTTPException: _http,
        Exception: _unexpected,
    }
    return kind(  # the attendee plane's kind answers its menu and claims first (api/attendee/fast_paths.py)
        routes=routes,
        lifespan=lifespan,
        exception_handlers=handlers,  # type: ignore[arg-type]
        middleware=[Middleware(BodyLimits)],  # limits first (api/bounds.py)
    )
