"""Connection limits (appliance/http_bounds.py) against a real uvicorn server on port 0."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from appliance.http_bounds import (
    FD_RESERVE,
    MAX_CONNECTIONS,
    BoundedProtocol,
    WireLimits,
    bounded_protocol,
    connection_cap,
)

REPO = Path(__file__).resolve().parents[1]
PER_ADDRESS = 2
LIMITS = WireLimits(
    max_header_bytes=1024, max_headers=10, header_timeout_s=0.5, body_timeout_s=0.5,
    max_per_address=PER_ADDRESS,
)  # fmt: skip
CAP = 4


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":  # a request in flight: its connection is busy, not idle
        await asyncio.sleep(2)
    body = b"hello"
    if scope["path"] == "/where":  # the addresses BoundedProtocol.connection_made found
        body = repr((scope["server"], scope["client"][0], scope["scheme"])).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


Server = tuple[int, type[BoundedProtocol]]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    sock = socket.create_server(("127.0.0.1", 0))
    protocol = bounded_protocol(LIMITS, CAP)
    config = uvicorn.Config(hello, lifespan="off", log_level="warning", http=protocol)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: running.run(sockets=[sock]), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert running.started
    yield sock.getsockname()[1], protocol
    running.should_exit = True
    thread.join(10)
    sock.close()


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data`, read until the server closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        return read_all(conn)


def read_all(conn: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := conn.recv(65536):
            out += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return out


def status(answer: bytes) -> int:
    match = re.match(rb"HTTP/1.1 (\d{3})", answer)
    return int(match[1]) if match else 0


def test_a_plain_request_is_served(server: Server) -> None:
    answer = exchange(server[0], b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status(answer) == 200 and b"hello" in answer


def test_a_request_sees_the_servers_and_the_clients_addresses_as_uvicorn_gives_them(
    server: Server,
) -> None:
    answer = exchange(server[0], b"GET /where HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert repr((("127.0.0.1", server[0]), "127.0.0.1", "http")).encode() in answer


def test_a_request_asking_to_upgrade_is_served_as_plain_http(server: Server) -> None:
    """curl --http2 on http:// asks for h2c; uvicorn serves it as HTTP/1.1, and so do we."""
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\n"
    answer = exchange(
        server[0], request + b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAA\r\n\r\n"
    )
    assert status(answer) == 200 and b"hello" in answer, answer


def test_too_many_headers_get_431(server: Server) -> None:
    headers = b"".join(b"X-%d: a\r\n" % i for i in range(11))
    answer = exchange(server[0], b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert status(answer) == 431, answer


@pytest.mark.parametrize("pieces", [1, 64], ids=["one-read", "trickled"])
def test_headers_over_the_size_limit_get_431(server: Server, pieces: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server[0]), timeout=5) as conn:
        step = len(request) // pieces + 1
        try:
            for i in range(0, len(request), step):
                conn.sendall(request[i : i + step])
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the rest arrived
        answer = read_all(conn)
    assert status(answer) == 431, answer


def test_a_huge_header_is_refused_before_it_is_all_read(server: Server) -> None:
    """16 MiB of one header: refused after the limit plus one read, not buffered whole."""
    with socket.create_connection(("127.0.0.1", server[0]), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, answer = 0, b""
        conn.settimeout(0.05)
        while sent < 16 * 2**20 and not answer:
            try:
                conn.sendall(b"a" * 65536)
                sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                break
            with contextlib.suppress(TimeoutError):
                answer = conn.recv(65536)
        conn.settimeout(5)
        answer += read_all(conn)
    assert status(answer) == 431, answer
    assert sent < 4 * 2**20, f"sent {sent} bytes before the 431"


def test_headers_that_never_finish_are_closed_by_the_header_timeout(
    server: Server,
) -> None:
    started = time.monotonic()
    answer = exchange(server[0], b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=5)
    waited = time.monotonic() - started
    assert status(answer) == 408, answer
    assert 0.4 < waited < 3, f"closed after {waited:.2f} s"


def test_a_socket_that_sends_nothing_is_closed_by_the_header_timeout(
    server: Server,
) -> None:
    started = time.monotonic()
    assert exchange(server[0], b"", timeout=5) == b""
    assert time.monotonic() - started < 3


def test_a_body_that_never_finishes_is_closed_by_the_body_timeout(
    server: Server,
) -> None:
    started = time.monotonic()
    exchange(server[0], b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab", timeout=5)
    assert time.monotonic() - started < 3


def test_a_body_past_the_body_timeout_but_arriving_steadily_is_served(server: Server) -> None:
    """A relay batch on a slow uplink: slower than the timeout, faster than the minimum rate."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server[0]), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 15000\r\n\r\n")
        for _ in range(15):  # 1,000 bytes every 0.1 s: 10 kB/s, over 1.5 s (timeout 0.5 s)
            conn.sendall(b"a" * 1000)
            time.sleep(0.1)  # the sender's pace
        answer = conn.recv(65536)
    assert status(answer) == 200, answer
    assert time.monotonic() - started > LIMITS.body_timeout_s * 2


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", b"\r\n"],
    ids=["get-with-a-body-never-sent", "blank-lines-between-requests"],
)
def test_trickling_bytes_after_a_response_does_not_keep_a_socket_open(
    server: Server, request_bytes: bytes
) -> None:
    """After an answer, bytes every 0.2 s (which stop uvicorn's keep-alive timer) get nowhere."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server[0]), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(conn.recv(65536)) == 200
        conn.sendall(request_bytes)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() - started < 5:
                conn.sendall(b"\r\n" if request_bytes == b"\r\n" else b"a")
                time.sleep(0.2)  # the trickle's pace
    assert time.monotonic() - started < 3, "the socket outlived its timeouts"


def connect_from(source: str, port: int) -> socket.socket:
    """A connection from `source`, one of loopback's many addresses (127.0.0.0/8)."""
    conn = socket.socket()
    conn.settimeout(5)
    conn.bind((source, 0))
    conn.connect(("127.0.0.1", port))
    return conn


def wait_registered(protocol: type[BoundedProtocol], count: int, busy: bool) -> None:
    """Until the server holds `count` connections (all with a request in flight if `busy`)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        held = list(protocol.registry.open)
        if len(held) == count and not (busy and any(conn.idle() for conn in held)):
            return
        time.sleep(0.01)
    raise AssertionError(f"the server holds {len(protocol.registry.open)} connections")


def test_at_the_cap_a_new_connection_closes_the_oldest_idle_one(server: Server) -> None:
    port, protocol = server
    idle = [connect_from(f"127.0.1.{i + 1}", port) for i in range(CAP)]  # within each address's cap
    try:
        wait_registered(protocol, CAP, busy=False)
        answer = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status(answer) == 200, answer
        assert idle[0].recv(10) == b""  # the oldest idle socket was closed for it
    finally:
        for conn in idle:
            conn.close()


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503_and_retry_after(
    server: Server,
) -> None:
    port, protocol = server
    busy = [connect_from(f"127.0.2.{i + 1}", port) for i in range(CAP)]
    try:
        for conn in busy:
            conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_registered(protocol, CAP, busy=True)
        answer = exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(answer) == 503, answer
        assert b"retry-after: 2" in answer.lower()
    finally:
        for conn in busy:
            conn.close()


def test_one_address_gets_at_most_its_share_and_others_are_served(server: Server) -> None:
    port, protocol = server
    wait_registered(protocol, 0, busy=False)
    busy = [connect_from("127.0.3.1", port) for _ in range(PER_ADDRESS)]
    try:
        for conn in busy:
            conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_registered(protocol, PER_ADDRESS, busy=True)
        with connect_from("127.0.3.1", port) as more:  # the same address: over its share
            more.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status(read_all(more)) == 503
        with connect_from("127.0.3.2", port) as other:  # another phone: room below the cap
            other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status(read_all(other)) == 200
    finally:
        for conn in busy:
            conn.close()


def test_at_its_share_an_address_closes_its_own_oldest_idle_connection(server: Server) -> None:
    port, protocol = server
    wait_registered(protocol, 0, busy=False)
    others = connect_from("127.0.4.1", port)  # idle, older, but another address's
    mine = [connect_from("127.0.4.2", port) for _ in range(PER_ADDRESS)]
    try:
        wait_registered(protocol, PER_ADDRESS + 1, busy=False)
        with connect_from("127.0.4.2", port) as newest:
            newest.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert status(read_all(newest)) == 200
        assert mine[0].recv(10) == b""  # its own oldest went
        others.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status(read_all(others)) == 200  # the other address's was left alone
    finally:
        for conn in [others, *mine]:
            conn.close()


def test_the_cap_stays_below_the_fd_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(10**9) <= soft - FD_RESERVE


@pytest.mark.parametrize("unit", ["stallbox-node.service", "stallbox-cloud.service"])
def test_the_units_give_the_cap_its_descriptors(unit: str) -> None:
    text = (REPO / "systemd" / unit).read_text()
    match = re.search(r"^LimitNOFILE=(\d+)$", text, re.M)
    assert match is not None, f"{unit} sets no LimitNOFILE"
    assert int(match[1]) >= MAX_CONNECTIONS + FD_RESERVE
