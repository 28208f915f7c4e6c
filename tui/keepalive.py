"""The console's HTTP/1.1 to the node over kept-alive connections, without httpx.

A confirm over the operator plane cost ~2.5 ms more than the same confirm in-process (issue 11,
bench/node.py), while TLS itself is ~0.15 ms: most of the rest was the console's own CPU in
httpx's transport (httpcore's pool with anyio's locks, anyio's TLS stream, h11's pure-Python
parser). And importing httpx, httpcore, anyio and h11 was ~0.1 s of the console's start CPU,
~0.7 s on a Pi 4 core (docs/performance/2026-12-05-console-start-without-httpx.md).

This module does what the console needs and nothing else: requests with a body known in
advance and answers read whole, one at a time on each of a few kept-alive connections, the
request written in one write on the loop's own TLS transport, the answer read with httptools'
C parser (uvicorn's dependency, already installed); and the event stream on a connection of its
own, read line by line. Over TLS every connection uses the one context it is given (the client
builds it with the node's pinned certificate as its only trust anchor), so a connection to
another key fails in the handshake. Every failure to get an answer is a `TransportError` whose
`__cause__` is the underlying error (an `ssl.SSLCertVerificationError` when another key
answered, which the client's key-change check looks for).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import httptools

from tui.errors import TransportError

IDLE_MAX = 4  # connections kept for reuse; more at once are opened and closed after
READ_CHUNK = 65_536
MAX_ANSWER = (
    32 * 1024 * 1024
)  # a whole answer's body: the node's largest (a day's orders) is far less
MAX_LINE = 1024 * 1024  # one line of the event stream (an event is a few hundred bytes)
USER_AGENT = b"stallbox-console"


@dataclass(slots=True)
class Answer:
    """One answer read whole: its status, headers and body."""

    status_code: int
    content: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The body as UTF-8 text (the node's answers are UTF-8)."""
        return self.content.decode("utf-8", "replace")


class Lines(Protocol):
    """An answer whose body is read as it comes (`KeptAlive.stream`)."""

    status_code: int

    async def read_all(self, timeout: float | None) -> bytes:
        """The rest of the body, read whole."""

    def lines(self, timeout: float | None) -> AsyncIterator[str]:
        """The body's lines as they arrive."""

    def close(self) -> None:
        """Stop reading."""


class Wire(Protocol):
    """What the client sends requests through: `KeptAlive`, or the tests' httpx seam."""

    base_url: str

    async def request(
        self, method: str, path: str, content: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Answer:
        """Send one request and read its whole answer."""

    async def post(self, path: str, content: bytes) -> Answer:
        """POST `content` to `path`."""

    async def stream(self, path: str, headers: Mapping[str, str], connect_s: float) -> Lines:
        """GET `path` and read its head; the body to come."""

    async def aclose(self) -> None:
        """Close the connections."""


@dataclass(slots=True)
class _Parsed:
    """What the parser has read of one answer (httptools calls these methods)."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes of body read so far
    head_done: bool = False
    done: bool = False

    def bounded(self) -> None:
        """TransportError once the body read is over MAX_ANSWER (nothing kept past it)."""
        if self.size > MAX_ANSWER:
            raise TransportError(f"the node's answer is over {MAX_ANSWER} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools callback."""
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """httptools callback."""
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        """httptools callback."""
        self.body.append(body)
        self.size += len(body)

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


class Stream:
    """An answer being read as it comes (the event stream), on its own connection."""

    def __init__(self, conn: _Connection, parser: httptools.HttpResponseParser, parsed: _Parsed):
        self._conn, self._parser, self._parsed = conn, parser, parsed
        self.status_code = parser.get_status_code()

    async def read_all(self, timeout: float | None) -> bytes:
        """The rest of the body (an error's), read whole."""
        while not self._parsed.done:
            if not await _feed(self._conn, self._parser, timeout):
                break
            self._parsed.bounded()
        return b"".join(self._parsed.body)

    async def lines(self, timeout: float | None) -> AsyncIterator[str]:
        """The body's lines (without their ends) as they arrive; `timeout` is per read."""
        pending = b""
        while True:
            if self._parsed.body:
                pending += b"".join(self._parsed.body)
                self._parsed.body.clear()
                *whole, pending = pending.replace(b"\r\n", b"\n").split(b"\n")
                for line in whole:
                    yield line.decode("utf-8", "replace")
                if len(pending) > MAX_LINE:
                    raise TransportError(f"an event stream line over {MAX_LINE} bytes")
            if self._parsed.done:
                return
            if not await _feed(self._conn, self._parser, timeout):
                raise TransportError("the node closed the event stream")

    def close(self) -> None:
        """Close the stream's connection."""
        self._conn.close()


class KeptAlive:
    """HTTP/1.1 to one node over a few kept-alive TLS, plain or Unix-socket connections."""

    def __init__(
        self,
        base_url: str,
        *,
        tls: ssl.SSLContext | None = None,
        socket_path: str | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        where = urlsplit(self.base_url)
        self._host = where.hostname or "localhost"
        self._port = where.port or (443 if where.scheme == "https" else 80)
        self._tls = tls if where.scheme == "https" else None
        self._socket_path = socket_path
        self.timeout_s = timeout_s
        self._idle: list[_Connection] = []
        self._host_header = where.netloc.encode() if socket_path is None else b"stallbox-node"

    async def request(
        self,
        method: str,
        path: str,
        content: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and read its whole answer."""
        head = self._head(method, path, content, headers)
        conn = await self._connection()
        try:
            conn.writer.write(head + content)
            parsed = _Parsed()
            parser = httptools.HttpResponseParser(parsed)
            async with _deadline(self.timeout_s, "the node did not answer in time"):
                await conn.writer.drain()
                while not parsed.done:
                    if not await _feed(conn, parser, None):
                        raise TransportError("the node closed the connection before it answered")
                    parsed.bounded()
        except BaseException:
            conn.close()
            raise
        closes = any(
            name.lower() == b"connection" and b"close" in value.lower() for name, value in parsed.headers
        )  # fmt: skip
        keep = parser.get_http_version() == "1.1" and not closes
        if keep and len(self._idle) < IDLE_MAX:
            self._idle.append(conn)
        else:
            conn.close()
        return Answer(parser.get_status_code(), b"".join(parsed.body), parsed.headers)

    async def post(self, path: str, content: bytes) -> Answer:
        """POST `content` to `path`."""
        return await self.request("POST", path, content)

    async def stream(self, path: str, headers: Mapping[str, str], connect_s: float) -> Stream:
        """GET `path` on a new connection of its own; the answer's head read, its body to come."""
        conn = await self._open(connect_s)
        try:
            conn.writer.write(self._head("GET", path, b"", headers))
            parsed = _Parsed()
            parser = httptools.HttpResponseParser(parsed)
            async with _deadline(connect_s, "the node did not answer in time"):
                await conn.writer.drain()
                while not parsed.head_done:
                    if not await _feed(conn, parser, None):
                        raise TransportError("the node closed the connection before it answered")
        except BaseException:
            conn.close()
            raise
        return Stream(conn, parser, parsed)

    def _head(self, method: str, path: str, body: bytes, extra: Mapping[str, str] | None) -> bytes:
        """The request line and headers, with the body's length."""
        lines = [
            b"%s %s HTTP/1.1" % (method.encode(), path.encode()),
            b"Host: " + self._host_header,
        ]
        headers = {"Accept": "*/*", **(extra or {})}
        lines += [f"{name}: {value}".encode() for name, value in headers.items()]
        lines.append(b"User-Agent: " + USER_AGENT)
        if body or method not in ("GET", "HEAD"):
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return await self._open(self.timeout_s)

    async def _open(self, timeout: float) -> _Connection:
        where = self._socket_path or f"{self._host}:{self._port}"
        try:
            async with asyncio.timeout(timeout):
                if self._socket_path is not None:
                    reader, writer = await asyncio.open_unix_connection(
                        self._socket_path, limit=READ_CHUNK
                    )
                else:
                    reader, writer = await asyncio.open_connection(
                        self._host, self._port, ssl=self._tls, limit=READ_CHUNK,
                        server_hostname=self._host if self._tls else None,
                    )  # fmt: skip
        except TimeoutError as exc:
            raise TransportError(f"connect to {where} timed out") from exc
        except OSError as exc:  # ssl.SSLError (a key that does not verify) is an OSError
            raise TransportError(f"connect to {where} failed: {exc}") from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        """Close every kept connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


async def _feed(
    conn: _Connection, parser: httptools.HttpResponseParser, timeout: float | None
) -> bool:
    """Read what has arrived into `parser`; False at the end of the connection."""
    try:
        async with _deadline(timeout, "the node did not answer in time"):
            data = await conn.reader.read(READ_CHUNK)
    except OSError as exc:
        raise TransportError(f"read failed: {exc}") from exc
    if not data:
        return False
    try:
        parser.feed_data(data)
    except httptools.HttpParserError as exc:
        raise TransportError(f"bad answer: {exc}") from exc
    return True


@asynccontextmanager
async def _deadline(seconds: float | None, what: str) -> AsyncIterator[None]:
    """asyncio.timeout whose expiry is a TransportError saying `what`."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise TransportError(what) from exc
