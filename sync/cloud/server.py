"""`stallbox cloud serve`: open the state and store, bind, serve under uvicorn, talk to systemd.

READY=1 goes out only once the socket is bound and the store is open; WATCHDOG=1 comes from the
event loop; SIGTERM finishes in-flight requests, closes the store and exits 0 (as the node does).
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance.serving import bind, serve_app
from appliance.systemd import Notifier
from sync.cloud import state as cloud_state
from sync.cloud.app import create_app
from sync.cloud.service import Cloud

log = logging.getLogger(__name__)


async def serve(
    state: Path, *, host: str, port: int, dsn: str | None, origin: str | None = None
) -> int:
    """Run the cloud until SIGTERM/SIGINT; return the exit code."""
    cloud_state.prepare(state)
    signer = cloud_state.log_key(state)
    admin = cloud_state.admin_token(state)
    name = cloud_state.origin(state, origin)
    store = await cloud_state.open_store(state, dsn)
    try:
        sock = bind(host, port)
    except OSError:
        await store.close()
        raise
    bound = sock.getsockname()[1]
    notifier = Notifier()
    cloud = Cloud(store, signer, name)
    cloud.size = await store.tree_size()

    async def close() -> None:
        notifier.stopping()
        await store.close()

    app = create_app(cloud, admin, on_close=close)
    return await serve_app(
        app, sock, notifier, what="cloud",
        ready_line=f"stallbox cloud: listening on http://{host}:{bound} (log {name})",
        status=lambda: f"serving; log size {cloud.size}",
    )  # fmt: skip


def run_cloud(
    state: Path, *, host: str, port: int, dsn: str | None, origin: str | None = None
) -> int:
    """Run the cloud on uvloop."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(serve(state, host=host, port=port, dsn=dsn, origin=origin))
