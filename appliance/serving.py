"""How both HTTP processes (the node and the cloud) serve: bind first, READY after start, exit 0.

Kept apart from the node's app so `stallbox cloud` can use it without importing the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import sys
from collections.abc import Callable, Iterator

import uvicorn
from starlette.types import ASGIApp

from appliance.errors import ExitCode
from appliance.systemd import Notifier, keep_watchdog, watchdog_interval


class GracefulServer(uvicorn.Server):
    """uvicorn, but SIGTERM ends the process with exit 0 after a graceful stop.

    uvicorn re-raises the captured signal once it has shut down, so the process would die of
    SIGTERM (exit -15) and systemd would log a failure for a clean stop. Here the loop's own
    signal handlers ask for the same graceful shutdown, and nothing is re-raised.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


class FollowerServer(uvicorn.Server):
    """A second listener for the same app (the node's Unix socket): no lifespan, no signal
    handlers of its own; it stops when its leader is told to."""

    def __init__(self, config: uvicorn.Config, leader: uvicorn.Server) -> None:
        super().__init__(config)
        self.leader = leader

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        return self.leader.should_exit or await super().on_tick(counter)


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen before anything else, so READY really means reachable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
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


async def serve_app(
    app: ASGIApp,
    sock: socket.socket,
    notifier: Notifier,
    *,
    ready_line: str,
    status: Callable[[], str],
    what: str,
    unix: tuple[socket.socket, type[asyncio.Protocol]] | None = None,
) -> int:
    """Serve `app` on the bound `sock` until SIGTERM/SIGINT; return the exit code.

    READY=1 (with `status`) and `ready_line` on stdout go out once uvicorn has started, i.e.
    after the lifespan opened what the app needs; WATCHDOG=1 then comes from the event loop.
    `unix` (a bound Unix socket and the HTTP protocol class to serve it with) is served by a
    follower server from then on, and stops with the main one.
    """
    server = GracefulServer(
        uvicorn.Config(
            app, loop="none", http="httptools", lifespan="on", log_level="warning",
            access_log=False, timeout_graceful_shutdown=3,
            proxy_headers=False,  # clients talk to us directly: no proxy whose headers to trust
        )
    )  # fmt: skip

    follower: FollowerServer | None = None
    followed: asyncio.Task[None] | None = None

    async def announce() -> None:
        nonlocal follower, followed
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        if unix is not None:
            follower = FollowerServer(
                uvicorn.Config(
                    app, loop="none", http=unix[1], lifespan="off", log_level="warning",
                    access_log=False, timeout_graceful_shutdown=3, proxy_headers=False,
                ),
                server,
            )  # fmt: skip
            followed = asyncio.create_task(follower.serve(sockets=[unix[0]]), name="unix")
            while not follower.started and not followed.done():
                await asyncio.sleep(0.01)
        tune_gc()
        notifier.ready(status())
        print(ready_line, flush=True)
        interval = watchdog_interval()
        if interval:
            await keep_watchdog(notifier, interval, status)

    announcer = asyncio.create_task(announce(), name="announce")
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await announcer
        if followed is not None:
            if follower is not None:
                follower.should_exit = True
            await followed
        sock.close()
        if unix is not None:
            unix[0].close()
    if not server.started:
        print(f"stallbox: {what} failed to start (see the log above)", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK
