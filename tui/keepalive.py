"""The console's kept-alive TLS connections to the node, without httpx's connection pool.

A confirm over the operator plane cost ~2.5 ms more than the same confirm in-process (issue 11,
bench/node.py), while TLS itself is ~0.15 ms. Profiled with py-spy, most of the rest was the
console's own CPU in httpx's transport: httpcore's pool and its anyio locks and events,
anyio's TLS stream (TLS done in Python over a memory BIO, several awaits per record) and h11's
pure-Python parser — about 1 ms of CPU per small request on the 2-vCPU VM we build on.

This transport does what the console needs and nothing else: requests with a body known in
advance and answers read whole, one at a time on each of a few kept-alive connections, the
request written in one TLS write on the loop's own TLS transport, the answer read with
httptools' C parser (uvicorn's dependency, already installed). Streams (the event stream,
anything asking for `text/event-stream`) go to httpx's own transport, as do answers this one
does not read (HTTP/1.0, an upgrade). Errors are httpx's: a handshake that does not verify is an
`httpx.ConnectError` caused by the `ssl.SSLCertVerificationError`, as the console's key-change
check expects.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import httptools
import httpx

IDLE_MAX = 4  # connections kept for reuse; more at once are opened and closed after
READ_CHUNK = 65_536


@dataclass(slots=True)
class _Answer:
    """What the parser has read of one answer."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools callback."""
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        """httptools callback."""
        self.body.append(body)

    def on_message_complete(self) -> None:
        """httptools callback."""
        self.done = True


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        """Still open, with nothing unread (the node closes idle connections after a while)."""
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        """Close without waiting for the peer."""
        self.writer.close()


class KeptAliveTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over a few kept-alive TLS (or plain) connections to one host; see the module."""

    def __init__(self, verify: ssl.SSLContext | None, streams: httpx.AsyncBaseTransport) -> None:
        self._context = verify
        self._streams = streams
        self._idle: list[_Connection] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` and read its whole answer (streams go to httpx's transport)."""
        if b"text/event-stream" in request.headers.get("accept", "").encode():
            return await self._streams.handle_async_request(request)
        body = await request.aread()
        head = _head(request, body)
        timeouts = request.extensions.get("timeout", {})
        conn = await self._connection(request, timeouts.get("connect"))
        try:
            conn.writer.write(head + body)
            answer, keep = await self._read(conn, request, timeouts.get("read"))
        except BaseException:
            conn.close()
            raise
        if keep and len(self._idle) < IDLE_MAX:
            self._idle.append(conn)
        else:
            conn.close()
        return httpx.Response(
            answer.status, headers=answer.headers, content=b"".join(answer.body),
            extensions={"http_version": b"HTTP/1.1"}, request=request,
        )  # fmt: skip

    async def _connection(self, request: httpx.Request, timeout: float | None) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        tls = self._context if url.scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    url.host, port, ssl=tls, server_hostname=url.host if tls else None,
                    limit=READ_CHUNK,
                )  # fmt: skip
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connect to {url.host}:{port} timed out", request=request
            ) from exc
        except OSError as exc:  # ssl.SSLError (a key that does not verify) is an OSError
            raise httpx.ConnectError(f"{exc}", request=request) from exc
        return _Connection(reader, writer)

    async def _read(
        self, conn: _Connection, request: httpx.Request, timeout: float | None
    ) -> tuple[_Answer, bool]:
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        try:
            async with asyncio.timeout(timeout):
                await conn.writer.drain()
                while not answer.done:
                    data = await conn.reader.read(READ_CHUNK)
                    if not data:
                        raise httpx.RemoteProtocolError(
                            "the node closed the connection before it answered", request=request
                        )
                    parser.feed_data(data)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the node did not answer in time", request=request) from exc
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(f"bad answer: {exc}", request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(f"{exc}", request=request) from exc
        answer.status = parser.get_status_code()
        closes = any(
            name.lower() == b"connection" and b"close" in value.lower() for name, value in answer.headers
        )  # fmt: skip
        return answer, parser.get_http_version() == "1.1" and not closes

    async def aclose(self) -> None:
        """Close every kept connection and httpx's transport."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        await self._streams.aclose()


def _head(request: httpx.Request, body: bytes) -> bytes:
    """The request line and headers, with the body's length."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
    for name, value in request.headers.raw:
        if name.lower() not in (b"content-length", b"transfer-encoding"):
            lines.append(name + b": " + value)
    if body or request.method not in ("GET", "HEAD"):
        lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"
