"""How the HTTP processes (node, cloud) serve: bind first, READY after start, exit 0.

One process may serve several listeners on one loop (the node: the attendee plane in plain
HTTP, the operator plane over TLS, and a Unix socket for the on-box console), each its
own uvicorn server over the same services; one signal handler stops them all.

Kept apart from the node's app so `stallbox cloud` can use it without importing the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import ssl as ssl_module
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from appliance.errors import ExitCode, ListenError
from appliance.http_bounds import uvicorn_options
from appliance.systemd import Notifier, keep_watchdog, watchdog_interval


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen before anything else, so READY really means reachable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


GC_GEN0_THRESHOLD = 10_000


def tune_gc() -> None:
    """Keep the cyclic garbage collector out of a rush's tail latency; call once started.

    Measured on the node in a drop rush (2-vCPU VM, bench/node.py): with Python's defaults the
    collector ran 1,600 times in 10 s, and each full collection stopped the loop for ~25 ms,
    because it walked every object the imports, templates and catalogue had made. Freezing what
    starting allocated takes it out of every scan (full collections ~1 ms); a gen-0 threshold of
    10,000 instead of 700 lets a request's short-lived objects die before the collector looks
    (1,640 -> ~100 young collections). Memory cost: a few thousand dead objects at most.
    """
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
    gc.collect()  # garbage still around now would be frozen with the rest and never freed
    gc.freeze()


@dataclass(frozen=True, slots=True)
class Listener:
    """One app on its bound socket(s), over TLS when `ssl` is given.

    `http` is uvicorn's HTTP protocol: its name, or a protocol class (the node's Unix socket
    uses one that reads the peer's credentials, appliance/unix_listener.py).
    """

    app: ASGIApp
    sockets: tuple[socket.socket, ...]
    ssl: ssl_module.SSLContext | None = None
    http: str | type[asyncio.Protocol] = "httptools"


class _Server(uvicorn.Server):
    """uvicorn, but the signals are the caller's: one handler stops every server of a process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(listener: Listener, options: dict[str, Any]) -> uvicorn.Server:
    context = listener.ssl
    http = options["http"]  # the bounded protocol: header, timeout and connection limits
    if not isinstance(listener.http, str):  # a listener's own protocol (peer credentials) too
        http = type(f"Bounded{listener.http.__name__}", (listener.http, http), {})
    return _Server(
        uvicorn.Config(
            listener.app, loop="none", lifespan="on", log_level="warning",
            access_log=False, timeout_graceful_shutdown=3,
            proxy_headers=False,  # clients talk to us directly: no proxy whose headers to trust
            ssl_context_factory=None if context is None else (lambda config, default: context),
            **{**options, "http": http},  # httptools with the limits of http_bounds.py
        )
    )  # fmt: skip


async def serve_listeners(
    listeners: Sequence[Listener],
    notifier: Notifier,
    *,
    ready_line: str,
    status: Callable[[], str],
    what: str,
) -> int:
    """Serve every listener on this loop until SIGTERM/SIGINT; return the exit code.

    READY=1 (with `status`) and `ready_line` on stdout go out once every server has started,
    i.e. after each lifespan opened what its app needs and every socket accepts; WATCHDOG=1 then
    comes from the event loop. SIGTERM asks all of them for a graceful stop (in-flight requests
    finish), and the process exits 0 — not killed by the signal, so systemd logs a clean stop.
    A server that fails to start or stops on its own stops the others.
    """
    options = uvicorn_options()  # once: one connection cap for the whole process
    servers = [_server(listener, options) for listener in listeners]
    loop = asyncio.get_running_loop()

    def stop_all(*_: object) -> None:
        for server in servers:
            server.should_exit = True

    async def announce() -> None:
        while not all(server.started for server in servers):
            if any(server.should_exit for server in servers):
                return
            await asyncio.sleep(0.01)
        tune_gc()
        notifier.ready(status())
        print(ready_line, flush=True)
        interval = watchdog_interval()
        if interval:
            await keep_watchdog(notifier, interval, status)

    async def run(server: uvicorn.Server, listener: Listener) -> None:
        try:
            await server.serve(sockets=list(listener.sockets))
        finally:
            stop_all()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_all)
    announcer = asyncio.create_task(announce(), name="announce")
    started = False
    try:
        await asyncio.gather(*(run(*pair) for pair in zip(servers, listeners, strict=True)))
        started = all(server.started for server in servers)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        announcer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await announcer
        for listener in listeners:
            for sock in listener.sockets:
                sock.close()
    if not started:
        print(f"stallbox: {what} failed to start (see the log above)", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK


async def serve_app(
    app: ASGIApp,
    sock: socket.socket,
    notifier: Notifier,
    *,
    ready_line: str,
    status: Callable[[], str],
    what: str,
) -> int:
    """Serve one `app` on the bound `sock` until SIGTERM/SIGINT; return the exit code."""
    return await serve_listeners(
        [Listener(app, (sock,))], notifier, ready_line=ready_line, status=status, what=what
    )
