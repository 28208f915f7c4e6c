"""`stallbox node`: bind the socket, serve the app under uvicorn, talk to systemd.

READY=1 goes out only once the socket is bound and the lifespan has opened the store, so
`systemctl start` returns when the node can really take a sale. SIGTERM (uvicorn's handler)
finishes in-flight requests, runs the lifespan's shutdown (mDNS goodbye, database closed) and
exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from appliance.api.app import create_app
from appliance.config import Config
from appliance.errors import ExitCode
from appliance.systemd import Notifier, keep_watchdog, watchdog_interval

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
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


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen before anything else, so READY really means reachable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


async def serve(
    config: Config, state_dir: Path, *, host: str, port: int, advertise: bool = True
) -> int:
    """Run the node until SIGTERM/SIGINT; return the exit code."""
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    notifier = Notifier()
    app = create_app(
        config, state_dir, port=bound_port, advertise=advertise, on_stopping=notifier.stopping
    )
    server = _Server(
        uvicorn.Config(
            app, loop="none", http="httptools", lifespan="on", log_level="warning",
            access_log=False, timeout_graceful_shutdown=3,
            proxy_headers=False,  # phones talk to the box directly: no proxy whose headers to trust
        )
    )  # fmt: skip

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        node = app.state.node
        notifier.ready(node.status())
        print(f"stallbox node: listening on http://{host}:{bound_port}", flush=True)
        interval = watchdog_interval()
        if interval:
            await keep_watchdog(notifier, interval, node.status)

    announcer = asyncio.create_task(announce(), name="announce")
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await announcer
        sock.close()
    if not server.started:
        print("stallbox: node failed to start (see the log above)", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK


def run_node(
    config: Config, state_dir: Path, *, host: str, port: int, advertise: bool = True
) -> int:
    """Run the node on uvloop."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(serve(config, state_dir, host=host, port=port, advertise=advertise))
