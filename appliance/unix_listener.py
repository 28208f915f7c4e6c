"""The on-box operator socket: a Unix socket whose file mode and peer credentials are the proof.

The console on the box itself (tty1) pairs with no code and no network: the node serves the
operator app on a Unix socket too (mode 0660, or 0600), and `POST /api/pair/local` issues a
token only to a peer whose SO_PEERCRED uid is the node's own, root's, or in the configured group.

uvicorn does not hand the peer socket to handlers, so `PeerCredProtocol` (its httptools
protocol) reads SO_PEERCRED once when a connection is made on an AF_UNIX socket, and puts it in
every request's `scope["extensions"][PEER_CRED]`; TCP connections never carry the entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from appliance.errors import StallboxError

PEER_CRED = "stallbox.peer_cred"
SOCKET_NAME = "operator.sock"
MAX_PATH_BYTES = 107  # sun_path is 108 bytes with the terminating NUL
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13; Python names it nowhere yet
MAX_GROUPS = 256


class ListenerError(StallboxError):
    """The operator socket cannot be bound: the message names the path and why."""


@dataclass(frozen=True, slots=True)
class PeerCred:
    """Who is at the other end of a Unix socket, as the kernel saw it at connect()."""

    pid: int
    uid: int
    gid: int
    groups: tuple[int, ...] = ()  # supplementary groups (SO_PEERGROUPS), when the kernel says


def default_path(state_dir: Path, runtime_dir: str | None) -> Path:
    """$RUNTIME_DIRECTORY/operator.sock under systemd, else operator.sock in the state dir."""
    if runtime_dir:
        return Path(runtime_dir.split(":")[0]) / SOCKET_NAME
    return state_dir / SOCKET_NAME


def bind_unix(path: Path, mode: int = 0o600, group: int | None = None) -> socket.socket:
    """Bind and listen on `path` with `mode` (and `group`) from the start; replace only a stale socket."""
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise ListenerError(f"{path}: longer than {MAX_PATH_BYTES} bytes; choose a shorter path")
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ListenerError(f"{path}: exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(os.fspath(path))
        except OSError:
            path.unlink()  # left by a node that died: nobody listens
        else:
            raise ListenerError(f"{path}: another process is serving on it")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o777 & ~mode)  # the file is born with `mode`: no window where it is wider
    try:
        sock.bind(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise ListenerError(f"{path}: cannot bind ({exc.strerror})") from None
    finally:
        os.umask(old)
    try:
        if group is not None:
            os.chown(path, -1, group)  # the node's user must be a member (or root)
        os.chmod(path, mode)
    except OSError as exc:
        sock.close()
        path.unlink()
        raise ListenerError(f"{path}: cannot give it group {group} ({exc.strerror})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def peer_cred(sock: Any) -> PeerCred:
    """SO_PEERCRED (and SO_PEERGROUPS) of a connected Unix socket, as at the peer's connect()."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    try:
        raw_groups = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * MAX_GROUPS)
    except OSError:  # an old kernel, or more groups than we asked room for: primary gid only
        raw_groups = b""
    groups = struct.unpack(f"{len(raw_groups) // 4}I", raw_groups[: len(raw_groups) // 4 * 4])
    return PeerCred(pid, uid, gid, groups)


def peer_of(scope: Any) -> PeerCred | None:
    """The peer credentials of this request's connection, or None if it did not come over Unix."""
    peer = scope.get("extensions", {}).get(PEER_CRED)
    return peer if isinstance(peer, PeerCred) else None


def group_id(name: str | None) -> int | None:
    """The gid of the configured operator group (None if none is configured)."""
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ListenerError(f"operator group {name!r} does not exist on this system") from None


def allowed(peer: PeerCred, *, uid: int, group: int | None) -> bool:
    """The node's own user, root, or a member of `group` (primary or supplementary)."""
    if peer.uid in (uid, 0):
        return True
    if group is None:
        return False
    if peer.gid == group or group in peer.groups:
        return True
    try:
        user = pwd.getpwuid(peer.uid)
        return user.pw_gid == group or user.pw_name in grp.getgrgid(group).gr_mem
    except KeyError:
        return False


class PeerCredProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that puts a Unix peer's credentials in every request's scope."""

    _peer: PeerCred | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Read SO_PEERCRED once per connection (AF_UNIX only)."""
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family == socket.AF_UNIX:
            self._peer = peer_cred(sock)

    def on_message_begin(self) -> None:
        """Start a request's scope, with the peer's credentials when there are some."""
        super().on_message_begin()
        if self._peer is not None:
            extensions: dict[str, Any] = dict(self.scope.get("extensions") or {})
            extensions[PEER_CRED] = self._peer
            self.scope["extensions"] = extensions
