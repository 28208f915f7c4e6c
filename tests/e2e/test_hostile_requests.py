"""Hostile requests against a real node process: huge uploads, thousands of idle or slow sockets.

Issue 12's figures: one 500 MB POST /cart took the node from 68 MB to 1.09 GB RSS; 1,100 idle
sockets (fd limit 1,024) stopped the menu answering anyone; sockets that never finish their
headers stayed open. Each test reports what it measured in its assertion messages; timing
figures are for a quiet machine (the lead re-measures there). Everything stays on loopback,
bounded in count and time; the socket test's duration is STALLBOX_SLOW_SOCKETS_S (60 s by
default, the issue's figure; shorter locally).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nodeproc import NodeProcess, start_node
from starlette.routing import Route

from appliance.api.app import Planes
from appliance.config import load_config
from appliance.http_bounds import HEADER_TIMEOUT_S
from appliance.tls import state_dir_context

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # menu p99 and RSS under attack

UPLOAD_BYTES = 500 * 10**6
UPLOADS = 20
CHUNK = b"a" * 65536
SLOW_SOCKETS = 5000
REOPEN_PER_S = 1000  # idle sockets coming back, not a connection flood
SLOW_S = float(os.environ.get("STALLBOX_SLOW_SOCKETS_S", "60"))


def body_routes(state: Path) -> list[tuple[str, str]]:
    """Every route that takes a POST body, as (plane, path), from the apps themselves (path
    parameters filled in): "attendee" on the plain port, "operator" on the TLS one."""
    planes = Planes(load_config(state / "stallbox.toml"), state, port=0, operator_port=0)
    return [
        (plane, re.sub(r"\{[^}]+\}", "1", route.path))
        for plane, app in (("attendee", planes.attendee), ("operator", planes.operator))
        for route in app.routes
        if isinstance(route, Route) and "POST" in (route.methods or ())
    ]


def rss(pid: int) -> int:
    """Resident set size of `pid` in bytes, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match[1]) * 1024


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def address(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


def get_menu(where: tuple[str, int], timeout: float = 5.0) -> float:
    """One phone's visit: a new connection, GET /, the whole page; return the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(where, timeout=timeout) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: stall\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    return time.monotonic() - started


class Prober(threading.Thread):
    """A phone loading the menu every `every` seconds until stopped; latencies and failures."""

    def __init__(self, where: tuple[str, int], every: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.where, self.every = where, every
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                self.latencies.append(get_menu(self.where))
            except (OSError, AssertionError) as exc:
                self.failures.append(repr(exc)[:200])

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def upload(
    where: tuple[str, int], tls: ssl.SSLContext | None, path: str, chunked: bool, deadline: float
) -> tuple[int, int]:
    """POST a 500 MB body from a generator until the answer arrives; (status, bytes sent)."""
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % UPLOAD_BYTES
    head = b"POST %s HTTP/1.1\r\nHost: stall\r\n%s\r\n\r\n" % (path.encode(), framing)
    frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
    sent, answer = 0, b""
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(socket.create_connection(where, timeout=10))
        if tls is not None:  # the operator plane: TLS, pinned to the box's certificate
            conn = stack.enter_context(tls.wrap_socket(conn))
        conn.sendall(head)
        conn.setblocking(False)
        while sent < UPLOAD_BYTES and time.monotonic() < deadline:
            with contextlib.suppress(BlockingIOError, ssl.SSLWantReadError):
                answer += conn.recv(65536)
            if answer:
                break  # the answer came: stop sending, as a client that reads would
            try:
                sent += conn.send(frame)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                selectors.DefaultSelector().select(0.01)
            except (BrokenPipeError, ConnectionResetError):
                break
        conn.settimeout(5)
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                answer += chunk
    match = re.match(rb"HTTP/1.1 (\d{3})", answer)
    return (int(match[1]) if match else 0), sent


def upload_into(results: list[tuple[int, int]], *args: Any) -> None:
    """upload(*args), its outcome appended to `results` (a thread's target)."""
    results.append(upload(*args))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = start_node(tmp_path / "state")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_20_concurrent_500mb_uploads_to_every_route_get_413_in_bounded_memory(
    node: NodeProcess,
) -> None:
    where = address(node.url)
    planes = {
        "attendee": (where, None),
        "operator": (address(node.operator_url), state_dir_context(node.state)),
    }
    routes = body_routes(node.state)
    assert len(routes) >= 14, routes  # /cart, /order, a claim, 10 operator, 1 relay (issue 12)
    for _ in range(50):  # warm: templates, the menu cache, the allocator's arenas
        get_menu(where)
    idle = rss(node.process.pid)
    prober = Prober(where, every=0.005)
    prober.start()
    peak, statuses, most_sent = idle, [], 0
    try:
        for plane, path in routes:
            results: list[tuple[int, int]] = []
            deadline = time.monotonic() + 60
            threads = [
                threading.Thread(
                    target=upload_into, args=(results, *planes[plane], path, i % 2 == 1, deadline)
                )
                for i in range(UPLOADS)
            ]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                peak = max(peak, rss(node.process.pid))
                time.sleep(0.01)  # sampling RSS while the uploads run
            statuses += [(path, status) for status, _ in results]
            most_sent = max([most_sent, *(sent for _, sent in results)])
            assert len(results) == UPLOADS, path
    finally:
        prober.stop()
    figures = (
        f"{len(routes)} routes x {UPLOADS} uploads of 500 MB (half chunked): "
        f"idle RSS {idle / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB"
        f" ({peak / idle:.2f}x); menu p99 {p99(prober.latencies) * 1000:.1f} ms over"
        f" {len(prober.latencies)} loads, {len(prober.failures)} failed; at most"
        f" {most_sent / 2**20:.2f} MiB sent before an answer"
    )
    print(figures)
    assert [s for s in statuses if s[1] != 413] == [], figures
    assert peak <= 1.2 * idle, figures
    assert not prober.failures, (prober.failures[:5], figures)
    assert p99(prober.latencies) <= 0.100, figures
    assert node.stop() == 0


class SlowSockets:
    """`count` sockets that connect and then send nothing, or a header line every 2 s.

    Each comes from an address of its own in 127.1.0.0/16 (many phones, not one scripted host;
    one address is held to MAX_PER_ADDRESS, tests/test_http_bounds.py).

    Any the node closes is opened again (at most REOPEN_PER_S), until `seconds` have
    passed; how long each lived before the node closed it is recorded.
    """

    def __init__(self, where: tuple[str, int], count: int) -> None:
        self.where, self.count = where, count
        self.selector = selectors.DefaultSelector()
        self.opened: dict[socket.socket, float] = {}
        self.lifetimes: list[float] = []
        self.connect_failures = 0
        self.oldest = 0.0
        self.opens = 0

    def open_one(self, slow: bool) -> None:
        conn = socket.socket()
        conn.setblocking(False)
        self.opens += 1  # each from its own loopback address: the global cap, not the address's
        n = self.opens % (250 * 250)
        conn.bind((f"127.1.{n // 250}.{n % 250 + 1}", 0))
        if conn.connect_ex(self.where) not in (0, 115):  # 115: EINPROGRESS
            self.connect_failures += 1
            conn.close()
            return
        self.opened[conn] = time.monotonic()
        self.selector.register(conn, selectors.EVENT_READ, 1 if slow else 0)

    def run(self, seconds: float) -> None:
        stop = time.monotonic() + seconds
        for i in range(self.count):
            self.open_one(slow=i % 2 == 1)
        last_trickle = last_reopen = time.monotonic()
        while (now := time.monotonic()) < stop:
            for key, _ in self.selector.select(0.1):
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                if not data:  # closed by the node
                    self.lifetimes.append(now - self.opened.pop(conn))
                    self.selector.unregister(conn)
                    conn.close()
            if now - last_trickle >= 2:
                last_trickle = now
                for key in list(self.selector.get_map().values()):
                    if key.data:  # a valid request line, then one more header every 2 s
                        trickle = b"X-Slow: 1\r\n" if key.data == 2 else b"GET / HTTP/1.1\r\n"
                        with contextlib.suppress(OSError):
                            key.fileobj.send(trickle)  # type: ignore[union-attr]
                            self.selector.modify(key.fileobj, selectors.EVENT_READ, 2)
            missing = self.count - len(self.opened)
            if missing and now - last_reopen >= 0.1:  # at most REOPEN_PER_S
                last_reopen = now
                for i in range(min(missing, REOPEN_PER_S // 10)):
                    self.open_one(slow=i % 2 == 1)
            if missing == 0 and not self.selector.get_map():
                break
        self.oldest = max((time.monotonic() - t for t in self.opened.values()), default=0.0)

    def close(self) -> None:
        for conn in list(self.opened):
            self.selector.unregister(conn)
            conn.close()
        self.opened.clear()
        self.selector.close()


@contextlib.contextmanager
def fd_limit(soft: int) -> Iterator[None]:
    """This process's soft fd limit raised (or lowered) to `soft` for the block."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, before[1]), before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)


@pytest.mark.parametrize(
    ("node_fds", "seconds"),
    [(8448, SLOW_S), (1024, min(SLOW_S, 15.0))],
    ids=["unit-limit-8448", "default-limit-1024"],
)  # the unit's LimitNOFILE for the 60 s; the limit the box had, shorter
def test_5000_idle_and_slow_sockets_leave_the_menu_answering(
    tmp_path: Path, node_fds: int, seconds: float
) -> None:
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < SLOW_SOCKETS + 512:
        pytest.skip("the hard fd limit is too low for 5,000 sockets")
    with fd_limit(node_fds):  # the node inherits this limit
        node = start_node(tmp_path / "state")
    try:
        where = address(node.url)
        with fd_limit(SLOW_SOCKETS + 512):
            sockets = SlowSockets(where, SLOW_SOCKETS)
            prober = Prober(where, every=0.05)
            prober.start()
            try:
                sockets.run(seconds)
            finally:
                prober.stop()
                held = len(sockets.opened)
                sockets.close()
        lived = sorted(sockets.lifetimes)
        figures = (
            f"node fd limit {node_fds}; {SLOW_SOCKETS} sockets for {seconds:.0f} s: menu p99"
            f" {p99(prober.latencies) * 1000:.1f} ms over {len(prober.latencies)} loads,"
            f" {len(prober.failures)} failed; {len(lived)} closed by the node (longest lived"
            f" {lived[-1] if lived else 0:.1f} s), {held} open at the end (oldest"
            f" {sockets.oldest:.1f} s), {sockets.connect_failures} connects failed"
        )
        print(figures)
        assert node.process.poll() is None, figures
        assert prober.latencies and not prober.failures, (prober.failures[:5], figures)
        assert p99(prober.latencies) <= 0.500, figures
        if seconds > HEADER_TIMEOUT_S + 2:  # long enough to see the header timeout at work
            assert lived and lived[-1] <= HEADER_TIMEOUT_S + 3, figures
            assert sockets.oldest <= HEADER_TIMEOUT_S + 3, figures
        assert node.stop() == 0
    finally:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait()
