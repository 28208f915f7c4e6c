"""Body limits and encodings (appliance/api/bounds.py) through the middleware, in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from appliance.api.bounds import (
    ATTENDEE_BODY_BYTES,
    OPERATOR_BODY_BYTES,
    RELAY_BODY_BYTES,
    BadEncoding,
    BodyLimits,
    body_limit,
    form_text,
)
from appliance.ledger.wire import MAX_BATCH_BYTES


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body and answer its length; a form route decodes it first."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    if scope["path"] == "/cart":
        form_text(body)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def post(path: str, content: bytes | AsyncIterator[bytes]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=BodyLimits(echo))
        async with httpx.AsyncClient(transport=transport, base_url="http://stall") as client:
            return await client.post(path, content=content)

    return asyncio.run(go())


async def chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    """A chunked body from a generator: nothing of `total` is allocated at once."""
    for _ in range(total // size):
        yield b"a" * size


def test_each_plane_has_its_limit_and_relay_keeps_the_protocols_cap() -> None:
    assert body_limit("/cart") == body_limit("/d/1/claim") == ATTENDEE_BODY_BYTES == 16 * 1024
    assert body_limit("/api/pair") == OPERATOR_BODY_BYTES == 64 * 1024
    assert body_limit("/relay/v1/devices/x/batches") == RELAY_BODY_BYTES == MAX_BATCH_BYTES


def test_a_declared_length_over_the_limit_is_413_json_on_the_operator_plane() -> None:
    answer = post("/api/orders", b"{" + b" " * OPERATOR_BODY_BYTES + b"}")
    assert answer.status_code == 413
    assert answer.json() == {"error": "body: 65538 bytes, at most 65536", "field": "body"}
    assert answer.headers["connection"] == "close"


def test_a_chunked_body_over_the_limit_is_413_html_for_attendees() -> None:
    answer = post("/cart", chunks(10 * 2**20))
    assert answer.status_code == 413 and answer.headers["content-type"].startswith("text/html")
    assert "more than 16384 bytes" in answer.text


@pytest.mark.parametrize("path", ["/cart", "/api/orders", "/relay/v1/devices/x/batches"])
def test_a_chunked_body_within_the_limit_reaches_the_app_whole(path: str) -> None:
    size = body_limit(path) // 4096 * 4096
    answer = post(path, chunks(size))
    assert answer.status_code == 200 and answer.text == str(size)


@pytest.mark.parametrize(
    "form",
    [b"pastel=%ff", b"pastel=1&note=%zz", b"note=\xff", b"note=%", b"note=%c3%28"],
)
def test_a_form_with_bad_utf8_or_escapes_is_400(form: bytes) -> None:
    with pytest.raises(BadEncoding):
        form_text(form)
    answer = post("/cart", form)
    assert answer.status_code == 400 and "<p>form:" in answer.text


@pytest.mark.parametrize("form", [b"pastel=1&note=caf%C3%A9", "note=café".encode(), b""])
def test_good_forms_pass(form: bytes) -> None:
    assert post("/cart", form).status_code == 200
