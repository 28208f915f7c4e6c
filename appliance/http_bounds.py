"""What one connection may cost the node or the cloud: header limits, timeouts, a connection cap.

uvicorn's httptools parser has no limit of its own on headers (a 16 MiB header and 20,000
headers were accepted), sets no timer on a connection until its first response (a socket that
never finishes its headers stayed open forever), and `limit_concurrency` counts only to answer
503, while idle sockets keep their file descriptors (1,100 of them, fd limit 1,024, stopped the
menu answering anyone). `h11_max_incomplete_event_size` applies to h11 only. So the limits live
here, in a subclass of uvicorn's httptools protocol, where they cost an integer addition per
read and keep httptools' speed:

- the request line and headers: at most MAX_HEADER_BYTES and MAX_HEADERS, else 431;
- a header timeout from the connection's first byte (or the request's) to its last header,
  else the socket is closed (408 if it had sent something); a body timeout likewise, past
  which a body still arriving at MIN_BODY_RATE or faster (a batch on a slow uplink) goes on;
- keep-alive idle sockets closed after KEEP_ALIVE_S (uvicorn's own timer);
- at most `cap` open connections, below the process's fd limit, and MAX_PER_ADDRESS from one
  client address: at a cap a new connection closes the oldest idle one (no request in flight;
  of its own address at the address's cap); when none is idle it gets 503 with Retry-After
  and is closed at once, so the fd table never fills and one address cannot take it all.
"""

from __future__ import annotations

import asyncio
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADER_BYTES = 16 * 1024  # request line and headers, as Node.js's default
MAX_HEADERS = 100  # as Apache's LimitRequestFields
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
MIN_BODY_RATE = 1024  # bytes/s a body must keep up past BODY_TIMEOUT_S (a slow uplink's batch)
KEEP_ALIVE_S = 5.0
MAX_CONNECTIONS = 8192
MAX_PER_ADDRESS = 256  # a phone opens at most ~6; room for a venue NAT of a few dozen phones
FD_RESERVE = 256  # descriptors kept for the database, logs, mDNS, threads and the listeners
RETRY_AFTER_S = 2


@dataclass(frozen=True, slots=True)
class WireLimits:
    """The limits one HTTP process applies to every connection."""

    max_header_bytes: int = MAX_HEADER_BYTES
    max_headers: int = MAX_HEADERS
    header_timeout_s: float = HEADER_TIMEOUT_S
    body_timeout_s: float = BODY_TIMEOUT_S
    min_body_rate: int = MIN_BODY_RATE
    keep_alive_s: float = KEEP_ALIVE_S
    max_connections: int = MAX_CONNECTIONS
    max_per_address: int = MAX_PER_ADDRESS


def connection_cap(wanted: int = MAX_CONNECTIONS) -> int:
    """`wanted`, lowered to stay FD_RESERVE below this process's soft fd limit."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(16, min(wanted, soft - FD_RESERVE))


class HeadersTooLarge(Exception):
    """The request line and headers went over a limit (answered 431)."""


class Connections:
    """The open connections of one process, oldest first, with its cap and a cap per address."""

    def __init__(self, cap: int, per_address: int = MAX_PER_ADDRESS) -> None:
        self.cap, self.per_address = cap, per_address
        self.open: OrderedDict[BoundedProtocol, None] = OrderedDict()
        self.by_address: dict[str, OrderedDict[BoundedProtocol, None]] = {}
        self.refused = 0
        self.evicted = 0

    def admit(self, conn: BoundedProtocol) -> bool:
        """Register `conn`, first closing the oldest idle one at a cap; False when all are busy.

        The address's cap first (one address cannot take the whole table), then the process's.
        """
        mine = self.by_address.get(conn.address)
        if mine is not None and len(mine) >= self.per_address and not self._evict(mine):
            self.refused += 1
            return False
        if len(self.open) >= self.cap and not self._evict(self.open):
            self.refused += 1
            return False
        self.open[conn] = None
        self.by_address.setdefault(conn.address, OrderedDict())[conn] = None
        return True

    def _evict(self, among: OrderedDict[BoundedProtocol, None]) -> bool:
        for old in among:
            if old.idle():
                old.transport.close()
                self.leave(old)
                self.evicted += 1
                return True
        return False

    def leave(self, conn: BoundedProtocol) -> None:
        """Forget a closed connection."""
        if self.open.pop(conn, 0) is None:  # was registered
            mine = self.by_address[conn.address]
            del mine[conn]
            if not mine:
                del self.by_address[conn.address]


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; see bounded_protocol()."""

    limits: WireLimits = WireLimits()
    registry: Connections = Connections(MAX_CONNECTIONS)
    address = ""  # the client's IP address, set when the connection is made

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = "between"  # between requests, "headers" or "body"
        self._header_bytes = 0
        self._body_bytes = 0  # read since the headers ended, and when they did
        self._body_since = 0.0
        self._deadline: float | None = None  # when the headers or body must be complete
        self._timer: asyncio.TimerHandle | None = None  # one per connection, re-armed as needed

    def idle(self) -> bool:
        """True when no request is in flight: evictable at the cap."""
        return self._phase != "body" and (self.cycle is None or self.cycle.response_complete)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.address = self.client[0] if self.client else ""
        if not self.registry.admit(self):
            retry = str(RETRY_AFTER_S).encode()
            self._answer(503, b"busy; try again shortly", [(b"retry-after", retry)])
            return
        self._expect(self.limits.header_timeout_s)
        self._timer = self.loop.call_later(self.limits.header_timeout_s, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.leave(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "body":
            self._body_bytes += len(data)
        else:  # this read starts in the request line or the headers
            self._header_bytes += len(data)
            if self._deadline is None and self.idle():  # uvicorn's keep-alive timer stops here
                self._expect(self.limits.header_timeout_s)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadersTooLarge):
                self._answer(431, str(exc.__context__).encode())
            else:
                self._answer(400, b"Invalid HTTP request received.")
            return
        except httptools.HttpParserError:
            self._answer(400, b"Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            pass  # no websockets here: as uvicorn, the request was handed on as plain HTTP
        if self._phase == "headers" and self._header_bytes > self.limits.max_header_bytes:
            self._answer(431, self._too_large_text())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase == "body":  # began inside a read that ended the last body: count anew
            self._header_bytes = 0
        self._phase = "headers"
        if self._deadline is None:
            self._expect(self.limits.header_timeout_s)

    def on_headers_complete(self) -> None:
        # Counted here, not per header: the byte limit already bounds how many can pile up.
        if len(self.headers) > self.limits.max_headers:
            raise HeadersTooLarge(f"more than {self.limits.max_headers} headers")
        if self._header_bytes > self.limits.max_header_bytes:  # this read held more: measure
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self.limits.max_header_bytes:
                raise HeadersTooLarge(self._too_large_text().decode())
        self._phase = "body"
        self._header_bytes = 0
        self._expect(self.limits.body_timeout_s)  # cleared at once when there is no body
        self._body_bytes, self._body_since = 0, self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = "between"
        self._header_bytes = 0
        self._deadline = None
        super().on_message_complete()

    def _too_large_text(self) -> bytes:
        return f"request line and headers over {self.limits.max_header_bytes} bytes".encode()

    def _expect(self, seconds: float) -> None:
        """Set the deadline: a float, not a timer per request (call_later + cancel cost 3.6 us)."""
        self._deadline = self.loop.time() + seconds

    def _check(self) -> None:
        """The connection's timer: time out a passed deadline, else look again when it is due.

        Every deadline is at least the shortest timeout away when set, so looking again within
        that (or exactly when the deadline is due) never misses one.
        """
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._deadline is None or now < self._deadline:
            shortest = min(self.limits.header_timeout_s, self.limits.body_timeout_s)
            wait = shortest if self._deadline is None else min(shortest, self._deadline - now)
            self._timer = self.loop.call_later(wait, self._check)
            return
        rate = self._body_bytes / max(now - self._body_since, 1e-3)
        if self._phase == "body" and rate >= self.limits.min_body_rate:  # slow link, not a stall
            self._deadline = now + self.limits.body_timeout_s / 3
            self._timer = self.loop.call_later(self.limits.body_timeout_s / 3, self._check)
            return
        self._deadline = None
        self._timed_out()

    def _timed_out(self) -> None:
        """Headers or body not complete in time: 408 when nothing was answered yet, then close."""
        started = self.cycle is not None and self.cycle.response_started and self._phase == "body"
        if (self._header_bytes == 0 and self._phase == "between") or started:
            self.transport.close()  # nothing asked (or an answer under way): nothing to say
            return
        self._answer(408, b"request not received in time")

    def _answer(
        self, status: int, text: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Write a small plain-text answer and close (the app never saw this request)."""
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app must not write after this answer
        lines = [STATUS_LINE[status]]
        for name, value in [*(headers or []), (b"content-type", b"text/plain; charset=utf-8")]:
            lines.append(name + b": " + value + b"\r\n")
        lines.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(text))
        self.transport.write(b"".join(lines) + text)
        self.transport.close()


def bounded_protocol(limits: WireLimits, cap: int) -> type[BoundedProtocol]:
    """A protocol class for uvicorn with these limits and one registry of `cap` connections."""
    return type(
        "BoundedProtocol",
        (BoundedProtocol,),
        {"limits": limits, "registry": Connections(cap, limits.max_per_address)},
    )


def uvicorn_options(limits: WireLimits | None = None) -> dict[str, Any]:
    """uvicorn.Config keyword arguments that apply `limits` (call once per process)."""
    limits = limits or WireLimits()
    return {
        "http": bounded_protocol(limits, connection_cap(limits.max_connections)),
        "ws": "none",  # no websockets: a request asking to upgrade is served as plain HTTP
        "timeout_keep_alive": limits.keep_alive_s,
        "limit_concurrency": None,  # the cap above answers 503 itself, counting idle sockets too
        "h11_max_incomplete_event_size": limits.max_header_bytes,  # if h11 is ever chosen
    }
