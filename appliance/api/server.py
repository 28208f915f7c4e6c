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
import sys
from pathlib import Path

import uvicorn

from appliance.api.app import create_app
from appliance.config import Config
from appliance.errors import ExitCode
from appliance.serving import GracefulServer, bind
from appliance.systemd import Notifier, keep_watchdog, watchdog_interval

log = logging.getLogger(__name__)


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
    server = GracefulServer(
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
