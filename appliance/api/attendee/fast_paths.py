"""The attendee plane's two hottest routes answered before Starlette's layers: menu and claim.

A phone's menu request and a drop's claims are most of what the box answers in a rush, and on
a Raspberry Pi every Python frame between the socket and the handler costs ~7x what it costs
on the machine we build on. Starlette puts five layers before a handler (the app, its error
middleware, our BodyLimits, its exception middleware, the router walking every route), each
re-entered on every `send`. Profiled with py-spy
(docs/performance/2026-12-04-fast-paths-menu-claim.md): a menu
request cost the node 0.089 ms of CPU against the hello-world's 0.041 ms; the layers and the
router were a third of it.

`AttendeeApp` is the attendee plane's Starlette app with two doors in front:

- **GET /** (no query string, no body): the menu page the `menu` handler last rendered into
  `node.menu_page` for the attendee's language, while it is fresher than MENU_TTL_S, with the
  same visitor cookie, funnel view and metric as the handler; anything else (a stale or missing
  page, an error code, a body) goes through the app, whose handler renders and caches it. While
  a flag bundle is in force the menu may differ by the visitor's arm and each arm's views are
  measured (page_variants.py), so every menu request then goes through the handler.
- **POST /d/{id}/claim** with a declared body within the attendee limit: the claim handler the
  route table lists, called directly; the body limit is judged here as BodyLimits would (a
  chunked or missing length, or an oversized one, goes through the app and its BodyLimits).

Every other request is the app's. Errors are answered as the app answers them: an unknown drop
404 (JSON), a full disk 507, a malformed form 400; anything unexpected is logged once and
answered with the generic 500.
"""

from __future__ import annotations

import logging
import re
import time

import msgspec
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from appliance.api import storage
from appliance.api.attendee import drop_pages
from appliance.api.attendee.attendee import MENU_TTL_S, PAGE_HEADERS, VISITOR
from appliance.api.bounds import ATTENDEE_BODY_BYTES, BadEncoding, _answer
from appliance.api.node import Node
from appliance.api.schemas import Problem
from appliance.store.errors import DiskFull, NotFound

log = logging.getLogger(__name__)

CLAIM_PATH = re.compile(r"/d/([0-9]{1,9})/claim")
_PAGE_HEAD = [
    (b"content-type", b"text/html; charset=utf-8"),
    *((name.lower().encode(), value.encode()) for name, value in PAGE_HEADERS.items()),
]
_COOKIE_TAIL = b"; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax"  # as attendee.remember


class AttendeeApp(Starlette):
    """The attendee plane: the menu from memory and claims straight to their handler, else Starlette."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method == "GET" and scope["path"] == "/" and not scope["query_string"]:
                if await self._menu(scope, send):
                    return
            elif (
                method == "POST"
                and (match := CLAIM_PATH.fullmatch(scope["path"])) is not None
                and _small_form(scope)
            ):
                scope["app"] = self
                scope["path_params"] = {"drop_id": int(match[1])}
                await _claim(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _menu(self, scope: Scope, send: Send) -> bool:
        """Answer GET / from the menu page in memory; False when the app must render it."""
        node: Node | None = getattr(self.state, "node", None)
        if node is None or node.flags.last_good.current is not None:
            return False  # with a flag bundle in force the page may vary by arm (page_variants.py)
        accept = cookie = None
        for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
            if name == b"accept-language":
                accept = value.decode("latin-1") if accept is None else accept
            elif name == b"cookie":
                cookie = value.decode("latin-1") if cookie is None else cookie
            elif name == b"content-length" or name == b"transfer-encoding":
                return False  # a body: BodyLimits judges it
        tag = node.languages.for_header(accept).tag
        cached = node.menu_page.get(tag)
        if cached is None or time.monotonic() - cached[0] >= MENU_TTL_S:
            return False
        known = node.visitors.verify(cookie_parser(cookie).get(VISITOR) if cookie else None)
        visitor = known or node.visitors.issue()
        node.funnel.viewed_menu(visitor)
        node.count("menu")
        page = cached[1]
        head = [*_PAGE_HEAD, (b"content-length", str(len(page)).encode())]
        if known is None:
            head.append((b"set-cookie", f"{VISITOR}={visitor}".encode() + _COOKIE_TAIL))
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": page})
        return True


def _small_form(scope: Scope) -> bool:
    """True for a declared body within the attendee limit and no chunking (BodyLimits' easy case)."""
    declared = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit() or int(value) > ATTENDEE_BODY_BYTES or declared:
                return False
            declared = True
        elif name == b"transfer-encoding":
            return False
    return declared


async def _claim(scope: Scope, receive: Receive, send: Send) -> None:
    """The claim handler, its refusals answered as the app's exception handlers answer them."""
    request = Request(scope, receive)
    try:
        response = await drop_pages.claim(request)
    except NotFound as exc:
        body = msgspec.json.encode(Problem(str(exc), None))
        response = Response(body, 404, media_type="application/json")
    except DiskFull as exc:
        response = await storage.disk_full(request, exc)
    except BadEncoding as exc:
        await _answer(scope, send, 400, str(exc), False)
        return
    except ClientDisconnect:  # gone mid-body: no one to answer
        return
    except Exception:  # logged once, answered with the app's generic 500
        log.exception("claim on %s failed", scope["path"])
        body = msgspec.json.encode(Problem("internal error; the node logged it", None))
        response = Response(body, 500, media_type="application/json")
    await response(scope, receive, send)
