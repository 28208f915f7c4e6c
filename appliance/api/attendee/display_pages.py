"""The customer display on the attendee plane: the page, pairing by code, the live view (SSE).

Served over plain HTTP because a spare phone cannot trust the box's own TLS certificate. The
display holds a display-only token in an HttpOnly cookie (appliance/services/display.py) that
opens exactly one thing, /display/events for its console; docs/security.md, "Customer
displays", weighs what that exposes.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from appliance.api.attendee.attendee import client_address, node_of
from appliance.api.schemas import Problem
from appliance.services.pairing import PairingError

COOKIE = "sbd"
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap a cookie's life at 400 days
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
WORDS = {
    "en": {
        "pair": "Pair this display", "hint": "Type the code the console shows (F7 on the console).",
        "go": "Pair", "pay": "Scan to pay", "cash": "Pay in cash", "reference": "Reference",
        "paid": "Paid — thank you!", "change": "Change", "total": "Total", "offline": "reconnecting…",
        "tap": "Tap for full screen",
    },
    "pt": {
        "pair": "Parear esta tela", "hint": "Digite o código que o caixa mostra (F7 no console).",
        "go": "Parear", "pay": "Escaneie para pagar", "cash": "Pague em dinheiro",
        "reference": "Referência", "paid": "Pago — obrigado!", "change": "Troco",
        "total": "Total", "offline": "reconectando…", "tap": "Toque para tela cheia",
    },
}  # fmt: skip


class PairCode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str


def _problem(status: int, error: str, field: str | None = None) -> Response:
    return Response(
        msgspec.json.encode(Problem(error, field)), status, media_type="application/json"
    )


def _console(request: Request) -> str | None:
    token = request.cookies.get(COOKIE, "")
    try:
        return node_of(request).display_pairing.check(token) if token else None
    except PairingError:
        return None


async def page(request: Request) -> Response:
    """The display page: pairing form or the live view, full screen (JavaScript draws it)."""
    node = node_of(request)
    lang = node.config.locale.split("-")[0].lower()
    html = TEMPLATES.get_template("display.html").render(
        stall=node.config.stall_name, lang=lang, t=WORDS.get(lang, WORDS["en"])
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


async def pair(request: Request) -> Response:
    """Exchange a console's code for a display-only token, set as an HttpOnly cookie."""
    node = node_of(request)
    if not node.limiter.allow(client_address(request)):
        return _problem(429, "too many requests; wait a moment")
    try:
        asked = msgspec.json.decode(await request.body(), type=PairCode)
    except msgspec.DecodeError as exc:
        return _problem(422, str(exc), "code")
    code = asked.code.strip()
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return _problem(422, "six digits", "code")
    try:
        console, token = await node.display_pairing.redeem(code, time.time())
    except PairingError as exc:
        return _problem(401, str(exc), "code")
    response = Response(msgspec.json.encode({"console": console}), media_type="application/json")
    response.set_cookie(
        COOKIE, token, max_age=COOKIE_MAX_AGE, path="/display", httponly=True, samesite="strict"
    )
    return response


async def state(request: Request) -> Response:
    """Which console this display follows (200), or 401 when it is not paired."""
    console = _console(request)
    if console is None:
        return _problem(401, "not a paired display")
    return Response(msgspec.json.encode({"console": console}), media_type="application/json")


async def events(request: Request) -> Response:
    """SSE: the console's view now, then every change (401 unless paired)."""
    console = _console(request)
    if console is None:
        return _problem(401, "not a paired display")
    return StreamingResponse(
        node_of(request).display_hub.stream(console),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def routes() -> list[BaseRoute]:
    """The customer display's routes on the attendee plane."""
    return [
        Route("/display", page),
        Route("/display/pair", pair, methods=["POST"]),
        Route("/display/state", state),
        Route("/display/events", events),
    ]
