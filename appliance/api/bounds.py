"""Request bodies the node will take: a size per plane, enforced before and while they arrive.

Bodies used to be read whole and then cut: one unauthenticated 500 MB `POST /cart` took the node
from 68 MB to 1.09 GB. Here a body over its plane's limit is refused with 413 (JSON on the
operator and relay planes, a small page for attendees) and the connection closed, without
reading on: a declared Content-Length is judged before a byte of the body is read, a chunked
body is counted as it streams and never held beyond the limit. The limits (docs/api.md,
"Limits"):

- attendee forms (everything outside /api, /relay and /metrics): ATTENDEE_BODY_BYTES;
- the operator JSON API: OPERATOR_BODY_BYTES;
- relay batches: appliance.ledger.wire.MAX_BATCH_BYTES, the cap the protocol documents.

Malformed encodings found by a handler (BadEncoding: a form that is not UTF-8 or has a bad
percent-escape) are answered 400 here too, in the plane's format, so the claim fast path and the
routed handlers answer alike.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

import msgspec
import msgspec.inspect
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from appliance.api.bank_schemas import RECONCILE_STATEMENT_BYTES
from appliance.api.schemas import NewDrop, Problem
from appliance.domain.orders import TOTAL_MAX
from appliance.flags.bundle import MAX_BUNDLE
from appliance.http_bounds import FD_RESERVE, RETRY_AFTER_S, WireLimits
from appliance.ledger.wire import MAX_BATCH_BYTES

ATTENDEE_BODY_BYTES = 16 * 1024
OPERATOR_BODY_BYTES = 64 * 1024
RELAY_BODY_BYTES = MAX_BATCH_BYTES
FLAGS_BODY_BYTES = MAX_BUNDLE  # PUT /api/flags: one signed flag bundle (docs/flags.md)
RECONCILE_BODY_BYTES = RECONCILE_STATEMENT_BYTES * 4 // 3 + 64 * 1024  # base64 and the JSON
LARGE_OPERATOR_BODIES = {"/api/reconcile": RECONCILE_BODY_BYTES, "/api/flags": FLAGS_BODY_BYTES}
DROP_FIELDS = ("quantity", "per_attendee", "hold_s")
MAX_DROP_LEAD_DAYS = 366  # a drop's start: at most this far ahead (operator.drop_start)
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class BodyTooLarge(Exception):
    """The request body is over its plane's limit (answered 413)."""


class BadEncoding(Exception):
    """The request body is not in the encoding its type promises (answered 400)."""


def body_limit(path: str, bearer: bool = True) -> int:
    """The largest body accepted on `path`; an operator route's large limit only with a bearer token.

    A chunked body is read up to its limit before the handler sees it, so a large limit open to
    anyone would let twenty anonymous uploads hold twenty such bodies at once.
    """
    if path.startswith("/relay/"):
        return RELAY_BODY_BYTES
    if path.startswith("/api/") or path == "/metrics":
        large = LARGE_OPERATOR_BODIES.get(path, OPERATOR_BODY_BYTES)
        return large if bearer else OPERATOR_BODY_BYTES
    return ATTENDEE_BODY_BYTES


def is_json_plane(path: str) -> bool:
    """True where errors are JSON Problems (operator and relay), False on attendee pages."""
    return path.startswith(("/api/", "/relay/")) or path in ("/metrics", "/healthz")


def form_text(raw: bytes, limit: int = ATTENDEE_BODY_BYTES) -> str:
    """A urlencoded form body as text; BadEncoding for bad UTF-8 or percent-escapes."""
    if len(raw) > limit:
        raise BodyTooLarge(f"body: more than {limit} bytes")
    if _BAD_ESCAPE.search(raw):
        raise BadEncoding("form: a '%' not followed by two hex digits")
    try:
        text = raw.decode("utf-8")
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadEncoding("form: not UTF-8") from None
    return text


async def _answer(scope: Scope, send: Send, status: int, text: str, close: bool) -> None:
    path = str(scope.get("path", ""))
    if is_json_plane(path):
        body, kind = msgspec.json.encode(Problem(text, "body")), b"application/json"
    else:
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = f"<!doctype html><title>{status}</title><p>{escaped}</p>\n".encode()
        kind = b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    if close:  # the rest of the body is never read: end the connection instead
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    """ASGI middleware: 413 for a body over its limit, 400 for a malformed encoding."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked, bearer = None, False, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else -1
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"authorization":
                bearer = value[:7].lower() == b"bearer "
        limit = body_limit(scope["path"], bearer)
        if declared is not None and declared > limit:
            await _answer(scope, send, 413, f"body: {declared} bytes, at most {limit}", True)
            return
        if chunked and declared is None:
            first = await _read_within(receive, limit)
            if first is None:
                await _answer(scope, send, 413, f"body: more than {limit} bytes", True)
                return
            receive = _replay(first, receive)
        elif not declared:  # no body: nothing to limit or to find malformed
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except ClientDisconnect:  # gone mid-body (or cut by the body timeout): no one to answer
            return
        except (BodyTooLarge, BadEncoding) as exc:
            if started:
                raise
            too_large = isinstance(exc, BodyTooLarge)
            await _answer(scope, send, 413 if too_large else 400, str(exc), too_large)


async def _read_within(receive: Receive, limit: int) -> Message | None:
    """The whole body as one message when it stays within `limit`, else None (reading stops)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message  # the client went away: let the app hear it
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(parts), "more_body": False}


def _replay(first: Message, receive: Receive) -> Receive:
    """A receive that hands over `first`, then whatever the server says next."""
    pending: list[Message] = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def limits_markdown() -> str:
    """The "Limits" section of docs/api.md, from the constants both layers enforce."""
    wire = WireLimits()
    info = msgspec.inspect.type_info(NewDrop)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = {f.name: f.type for f in info.fields}
    ranges = []
    for name in DROP_FIELDS:
        kind = fields[name]
        if isinstance(kind, msgspec.inspect.UnionType):  # optional (hold_s: None = the default)
            kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
        assert isinstance(kind, msgspec.inspect.IntType)
        ranges.append(f"{kind.ge:,}-{kind.le:,}")
    drop_ranges = f"{ranges[0]}; {ranges[1]} and <= `quantity` (409); {ranges[2]} s and <= drops.max_hold_s (409)"
    return f"""## Limits

Every limit and what exceeding it answers. Bodies: a declared `Content-Length` over the limit
is refused before a byte of the body is read; a chunked body is counted as it arrives and
refused as soon as it passes the limit. Either way the connection is closed after the answer.
Errors are JSON on `/api`, `/relay` and `/metrics`, a short HTML page on the attendee pages.

| what | limit | answer |
|---|---|---|
| attendee form body (`POST /cart`, `/order`, `/d/{{id}}/claim`) | {ATTENDEE_BODY_BYTES:,} bytes | 413 |
| operator JSON body (`/api/...`) | {OPERATOR_BODY_BYTES:,} bytes | 413 |
| relay batch body (`/relay/v1/...`) | {RELAY_BODY_BYTES:,} bytes (`MAX_BATCH_BYTES`) | 413 |
| flag bundle (`PUT /api/flags`) | {FLAGS_BODY_BYTES:,} bytes (`MAX_BUNDLE`) | 413 |
| request line and headers, together | {wire.max_header_bytes:,} bytes | 431 |
| header fields | {wire.max_headers} | 431 |
| headers complete, from the connection's (or request's) first byte | {wire.header_timeout_s:g} s | 408, closed [1] |
| body complete after the headers | {wire.body_timeout_s:g} s, then >= {wire.min_body_rate:,} B/s | 408, closed |
| keep-alive connection idle between requests | {wire.keep_alive_s:g} s | closed |
| open connections | {wire.max_connections:,} [2] | 503, `Retry-After: {RETRY_AFTER_S}`, closed [3] |
| open connections from one client address | {wire.max_per_address} | 503, `Retry-After: {RETRY_AFTER_S}`, closed [3] |
| JSON body not UTF-8 inside a string, malformed JSON | | 400 |
| form body not UTF-8, or a `%` without two hex digits | | 400 |
| `starts_at` of a drop | a minute ago to {MAX_DROP_LEAD_DAYS} days ahead | 409 `starts_at` (422: not a time) |
| drop `quantity`, `per_attendee`, `hold_s` | {drop_ranges} | 422 [4] |
| relay batch `known_size` | 0-2^53 | 422 [4] |
| an order's total (and a catalogue price in stallbox.toml) | {TOTAL_MAX:,} minor units [5] | 409 |
| line `qty` | 1-999 (attendee forms: an item blank or 0-20, a claim 1-20) | 422 [4] |

- [1] A socket that sent nothing is closed without an answer.
- [2] Lowered to stay {FD_RESERVE} descriptors below the process's fd limit.
- [3] At a cap a new connection first closes the oldest idle one (no request in flight; at an
  address's cap, that address's own): idle and slow sockets cannot lock phones out. Only when
  every one of them has a request in flight is the new one answered 503.
- [4] The error's `field` names the field.
- [5] A receipt line's total has at most 12 digits; a price over it stops the config loading.

The limits are constants, not configuration: `appliance/api/bounds.py` (bodies and encodings)
and `appliance/http_bounds.py` (headers, timeouts, connections). The systemd units set
`LimitNOFILE={wire.max_connections + FD_RESERVE}` so the whole connection cap fits.
"""
