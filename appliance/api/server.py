"""`stallbox node`: bind the socket, serve the app under uvicorn, talk to systemd.

READY=1 goes out only once the socket is bound and the lifespan has opened the store, so
`systemctl start` returns when the node can really take a sale. SIGTERM (uvicorn's handler)
finishes in-flight requests, runs the lifespan's shutdown (mDNS goodbye, database closed) and
exits 0.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from appliance.api.app import create_app
from appliance.config import Config
from appliance.serving import bind, serve_app
from appliance.systemd import Notifier
from appliance.unix_listener import PeerCredProtocol, bind_unix, group_id

log = logging.getLogger(__name__)


async def serve(
    config: Config,
    state_dir: Path,
    *,
    host: str,
    port: int,
    advertise: bool = True,
    operator_socket: Path | None = None,
) -> int:
    """Run the node until SIGTERM/SIGINT; return the exit code."""
    group = group_id(config.operator_group)
    sock = bind(host, port)
    unix = None
    if operator_socket is not None:
        unix = bind_unix(operator_socket, 0o600 if group is None else 0o660, group)
    bound_port = sock.getsockname()[1]
    notifier = Notifier()
    app = create_app(
        config, state_dir, port=bound_port, advertise=advertise, on_stopping=notifier.stopping
    )
    on_unix = f" (on-box: unix:{operator_socket})" if operator_socket is not None else ""
    try:
        return await serve_app(
            app, sock, notifier, what="node",
            ready_line=f"stallbox node: listening on http://{host}:{bound_port}{on_unix}",
            status=lambda: app.state.node.status(),
            unix=None if unix is None else (unix, PeerCredProtocol),
        )  # fmt: skip
    finally:
        if operator_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                operator_socket.unlink()


def run_node(
    config: Config,
    state_dir: Path,
    *,
    host: str,
    port: int,
    advertise: bool = True,
    operator_socket: Path | None = None,
) -> int:
    """Run the node on uvloop."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(
        serve(
            config, state_dir, host=host, port=port, advertise=advertise,
            operator_socket=operator_socket,
        )
    )  # fmt: skip
