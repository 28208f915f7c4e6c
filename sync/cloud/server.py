"""`stallbox cloud serve`: open the state and store, bind, serve under uvicorn, talk to systemd.

READY=1 goes out only once the socket is bound and the store is open; WATCHDOG=1 comes from the
event loop; SIGTERM finishes in-flight requests, closes the store and exits 0 (as the node does).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from appliance.serving import Listener, bind, serve_listeners
from appliance.systemd import Notifier
from sync.cloud import state as cloud_state
from sync.cloud.app import create_app
from sync.cloud.service import Cloud

log = logging.getLogger(__name__)


async def serve(
    state: Path,
    *,
    host: str,
    port: int,
    dsn: str | None,
    origin: str | None = None,
    tls: tuple[str, str | None] | None = None,
) -> int:
    """Run the cloud until SIGTERM/SIGINT; return the exit code (HTTPS with `tls`)."""
    context = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls[0], tls[1])
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
    scheme = "http" if context is None else "https"
    return await serve_listeners(
        [Listener(app, (sock,), context)], notifier, what="cloud",
        ready_line=f"stallbox cloud: listening on {scheme}://{host}:{bound} (log {name})",
        status=lambda: f"serving; log size {cloud.size}",
    )  # fmt: skip


def run_cloud(
    state: Path,
    *,
    host: str,
    port: int,
    dsn: str | None,
    origin: str | None = None,
    tls: tuple[str, str | None] | None = None,
) -> int:
    """Run the cloud on uvloop."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(serve(state, host=host, port=port, dsn=dsn, origin=origin, tls=tls))
