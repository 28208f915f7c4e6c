"""`stallbox node`: bind the socket, serve the app under uvicorn, talk to systemd.

READY=1 goes out only once the socket is bound and the lifespan has opened the store, so
`systemctl start` returns when the node can really take a sale. SIGTERM (uvicorn's handler)
finishes in-flight requests, runs the lifespan's shutdown (mDNS goodbye, database closed) and
exits 0.
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.api.app import create_app
from appliance.config import Config
from appliance.serving import bind, serve_app
from appliance.systemd import Notifier

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
    return await serve_app(
        app, sock, notifier, what="node",
        ready_line=f"stallbox node: listening on http://{host}:{bound_port}",
        status=lambda: app.state.node.status(),
    )  # fmt: skip


def run_node(
    config: Config, state_dir: Path, *, host: str, port: int, advertise: bool = True
) -> int:
    """Run the node on uvloop."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(serve(config, state_dir, host=host, port=port, advertise=advertise))
