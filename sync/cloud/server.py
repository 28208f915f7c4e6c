"""`stallbox cloud serve`: open the state and store, bind, serve under uvicorn, talk to systemd.

READY=1 goes out only once the socket is bound and the store is open; WATCHDOG=1 comes from the
event loop; SIGTERM finishes in-flight requests, closes the store and exits 0 (as the node does).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.serving import Listener, bind, serve_listeners
from appliance.systemd import Notifier
from sync.checkpoint import verifier_key
from sync.cloud import marker
from sync.cloud import state as cloud_state
from sync.cloud.app import create_app
from sync.cloud.creators import load_keys
from sync.cloud.pass_vault import PassVault
from sync.cloud.service import Cloud
from sync.cloud.store import CloudStore
from sync.errors import CloudStateError

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
    cloud_state.backend(state, dsn)  # before the key files, which a legacy check looks at
    signer = cloud_state.log_key(state)
    admin = cloud_state.admin_token(state)
    creator_keys = load_keys(state)  # the flags key and the dashboard's session secret
    name = cloud_state.origin(state, origin, signer)
    store = await cloud_state.open_store(state, dsn)
    try:
        await check_identity(store, state, name, signer)
        sock = bind(host, port)
    except BaseException:
        await store.close()
        raise
    bound = sock.getsockname()[1]
    notifier = Notifier()
    cloud = Cloud(store, signer, name)
    cloud.size = await store.tree_size()
    await marker.check(cloud, state)  # a store restored behind the last checkpoint signed
    await cloud.checkpoint()  # signs the epoch's name, and the marker from now on
    name = cloud.origin
    keeper = asyncio.create_task(marker.keep(cloud, state))

    async def close() -> None:
        notifier.stopping()
        keeper.cancel()
        marker.write(cloud, state, None)
        await store.close()

    app = create_app(cloud, admin, on_close=close, creators=creator_keys)
    app.state.pass_vault = PassVault(state)  # creators' pass keys (sync/cloud/passes.py)
    scheme = "http" if context is None else "https"
    return await serve_listeners(
        [Listener(app, (sock,), context)], notifier, what="cloud",
        ready_line=f"stallbox cloud: listening on {scheme}://{host}:{bound} (log {name})",
        status=lambda: f"serving; log size {cloud.size}",
    )  # fmt: skip


async def check_identity(
    store: CloudStore, state: Path, origin: str, signer: Ed25519PrivateKey
) -> None:
    """Claim the store for this log key and origin; CloudStateError naming both if it is another's.

    Two processes with different keys on one database would sign the same tree with two keys,
    and every box would then fail the proofs of receipts the cloud had stored.
    """
    mine = verifier_key(origin, signer.public_key())
    stored_origin, stored_key = await store.claim_identity(origin, mine)
    if stored_key != mine:
        raise CloudStateError(
            f"log.key: this database's log is {stored_origin!r}, signed by key {stored_key}; "
            f"this process's key ({state / cloud_state.LOG_KEY}) is {mine}. Start it with that "
            "log's state dir (log.key, origin), or point it at its own database"
        )


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
