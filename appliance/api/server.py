"""`stallbox node`: bind the node's listeners, serve them under uvicorn, talk to systemd.

Listeners on one loop over one Node: the attendee plane in plain HTTP on `node.port`, the
operator plane over TLS 1.3 on `node.operator_port`, with the device key as the TLS key
(appliance/tls.py), and, when configured, the same operator app on a Unix socket for the
on-box console, served with a protocol that reads the peer's credentials
(appliance/unix_listener.py). READY=1 goes out only once every socket is bound and the store
is open, so `systemctl start` returns when the node can really take a sale. SIGTERM finishes
in-flight requests on all of them, runs the shutdown (mDNS goodbye, database closed) once,
removes the socket file and exits 0.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from appliance.api.app import Planes
from appliance.config import Config
from appliance.ledger.identity import fingerprint, load_key
from appliance.providers.settings import load_credentials
from appliance.serving import Listener, bind, serve_listeners
from appliance.systemd import Notifier
from appliance.tls import server_context
from appliance.unix_listener import PeerCredProtocol, bind_unix, group_id

log = logging.getLogger(__name__)


def url(scheme: str, host: str, port: int) -> str:
    """host:port as a URL (IPv6 literals in brackets)."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def serve(
    config: Config,
    state_dir: Path,
    *,
    host: str,
    port: int,
    operator_port: int,
    advertise: bool = True,
    operator_socket: Path | None = None,
) -> int:
    """Run the node until SIGTERM/SIGINT; return the exit code."""
    key = load_key(state_dir)  # before binding: a bad key file must not leave a port open
    group = group_id(config.operator_group)
    sock = bind(host, port)
    op_sock = bind(host, operator_port)
    # after binding, so a busy port writes nothing (not even the certificate)
    context = server_context(state_dir, key, key.key_id)
    bound, op_bound = sock.getsockname()[1], op_sock.getsockname()[1]
    notifier = Notifier()
    planes = Planes(
        config, state_dir, port=bound, operator_port=op_bound, advertise=advertise,
        on_stopping=notifier.stopping,
    )  # fmt: skip

    def status() -> str:
        return planes.node.status() if planes.node is not None else "starting"

    listeners = [
        Listener(planes.attendee, (sock,)),
        Listener(planes.operator, (op_sock,), context),
    ]
    on_unix = ""
    if operator_socket is not None:
        try:
            unix = bind_unix(operator_socket, 0o600 if group is None else 0o660, group)
        except BaseException:
            sock.close()
            op_sock.close()
            raise
        listeners.append(Listener(planes.operator, (unix,), http=PeerCredProtocol))
        on_unix = f", on-box: unix:{operator_socket}"
    try:
        return await serve_listeners(
            listeners, notifier, what="node", status=status,
            ready_line=f"stallbox node: listening on {url('http', host, bound)} (attendees), "
            f"operator on {url('https', host, op_bound)} (TLS, key {fingerprint(key.public)}"
            f"{on_unix})",
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
    operator_port: int,
    advertise: bool = True,
    operator_socket: Path | None = None,
) -> int:
    """Run the node on uvloop."""
    import uvloop

    if config.provider is not None:
        load_credentials(state_dir)  # refused (exit 3, naming the file) before anything listens

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return uvloop.run(
        serve(
            config, state_dir, host=host, port=port, operator_port=operator_port,
            advertise=advertise, operator_socket=operator_socket,
        )
    )  # fmt: skip
