"""The attendee plane's fast paths (api/attendee/fast_paths.py): the menu from memory and claims straight
to their handler answer exactly as the app would, and everything else still goes through it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from node_support import FORM, phone
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from appliance.api.node import Node

__all__ = ["phone"]  # fixture, used by name


def through_the_app(app: Starlette) -> list[str]:
    """The paths of the requests that reach Starlette's middleware stack from now on."""
    client = TestClient(app)
    client.get("/healthz")  # builds the stack
    inner = app.middleware_stack
    assert inner is not None
    seen: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["path"])
        await inner(scope, receive, send)

    app.middleware_stack = counting
    return seen


def test_the_menu_is_served_from_memory_as_the_handler_rendered_it(phone: TestClient) -> None:
    app = phone.app
    assert isinstance(app, Starlette)
    node: Node = app.state.node
    seen = through_the_app(app)
    rendered = phone.get("/", headers={"Accept-Language": "de"})  # renders and caches
    assert seen == ["/"]
    phone.cookies.clear()  # the client's jar kept the handler's cookie: a new phone
    fast = phone.get("/", headers={"Accept-Language": "de"})
    assert seen == ["/"], "a fresh menu went through Starlette"
    assert fast.content == rendered.content and b'lang="de"' in fast.content
    for header in ("content-type", "cache-control", "vary", "content-length"):
        assert fast.headers[header] == rendered.headers[header]
    cookie = fast.headers["set-cookie"]  # a new visitor, as the handler issues one
    assert cookie.startswith("sbv=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    visitor = cookie.split(";")[0].removeprefix("sbv=")
    assert node.visitors.verify(visitor) == visitor
    known = phone.get("/", headers={"Accept-Language": "de"})  # the jar sends the cookie back
    assert "set-cookie" not in known.headers and seen == ["/"]
    assert node.funnel.counts["menu"] == 3
    phone.get("/?error=empty")  # an error code, a body, a stale page: the handler's
    phone.request("GET", "/", content=b"x")
    node.menu_page.clear()
    phone.get("/", headers={"Accept-Language": "de"})
    assert seen == ["/", "/", "/", "/"]
    assert phone.head("/").status_code == 200


def test_claims_go_straight_to_the_handler_and_are_answered_as_the_app_would(
    phone: TestClient,
) -> None:
    app = phone.app
    assert isinstance(app, Starlette)
    node: Node = app.state.node
    assert phone.portal is not None
    drop = phone.portal.call(
        node.drops.schedule, "coffee", 1, datetime.now(UTC), 1, timedelta(minutes=5)
    )
    seen = through_the_app(app)
    claim = f"/d/{drop.id}/claim"
    won = phone.post(claim, content=b"qty=1&tender=cash", headers=FORM, follow_redirects=False)
    assert won.status_code == 303 and won.headers["location"].startswith("/o/")
    assert won.headers["set-cookie"].startswith("sbv=")
    again = phone.post(claim, content=b"qty=1&tender=cash", headers=FORM)
    assert again.status_code == 409 and 'data-error="' in again.text  # the drop page, refused
    unknown = phone.post("/d/999999/claim", content=b"qty=1", headers=FORM)
    assert unknown.status_code == 404 and unknown.json()["error"] == "no drop 999999"
    malformed = phone.post(claim, content=b"qty=%zz", headers=FORM)
    assert malformed.status_code == 400 and "hex digits" in malformed.text
    assert seen == [], "a claim with a small declared body went through Starlette"

    def chunks() -> Iterator[bytes]:
        yield b"qty=1"

    chunked = phone.post(claim, content=chunks(), headers=FORM)  # BodyLimits' to judge
    assert chunked.status_code == 409
    too_large = phone.post(claim, content=b"q" * 20_000, headers=FORM)
    assert too_large.status_code == 413
    assert seen == [claim, claim]
    left = phone.portal.call(node.drops.left, drop)
    assert left == 0  # one unit, one claim: never oversold
