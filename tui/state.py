"""The console's own state file: per node, the operator token and the pinned key fingerprint.

The token is a credential, so the file is written 0600 (atomically: a crash leaves the old file or
the new one, never half of one) and tightened back to 0600 if found looser. The fingerprint is
pinned on first pairing; a node that later shows another one is not trusted silently — the
console asks the vendor to confirm (see screens/connect.py).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import msgspec

from appliance.durable import make_dirs, write_atomic
from tui.errors import StateFileError

FILE_MODE = 0o600


class PinnedNode(msgspec.Struct, frozen=True, kw_only=True):
    """What the console remembers about one node."""

    url: str
    node_id: str
    fingerprint: str
    token: str | None = None


class ConsoleFile(msgspec.Struct, kw_only=True):
    """The whole state file."""

    nodes: dict[str, PinnedNode] = {}  # by URL
    last_url: str | None = None
    theme: str | None = None


def default_path() -> Path:
    """$XDG_CONFIG_HOME/stallbox/console.json (or ~/.config/...)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stallbox" / "console.json"


@dataclass(frozen=True, slots=True)
class Pinning:
    """How a fingerprint compares with what was pinned for a node."""

    known: PinnedNode | None
    fingerprint: str

    @property
    def changed(self) -> bool:
        """A node we paired with before shows another key: warn and ask."""
        return self.known is not None and self.known.fingerprint != self.fingerprint


class ConsoleState:
    """Load and save the state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = self._load()

    def _load(self) -> ConsoleFile:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                self.path.chmod(FILE_MODE)
            return msgspec.json.decode(self.path.read_bytes(), type=ConsoleFile)
        except FileNotFoundError:
            return ConsoleFile()
        except (OSError, msgspec.DecodeError) as exc:
            raise StateFileError(f"{self.path}: cannot use the console state file ({exc})") from exc

    def save(self) -> None:
        """Write atomically with mode 0600; file and directory fsynced (pins survive a cut)."""
        make_dirs(self.path.parent, mode=0o700)
        write_atomic(self.path, msgspec.json.format(msgspec.json.encode(self.data)), FILE_MODE)

    def node(self, url: str) -> PinnedNode | None:
        """What we pinned for this URL."""
        return self.data.nodes.get(url)

    def check(self, url: str, node_id: str, fingerprint: str) -> Pinning:
        """Compare a fingerprint with the one pinned for this URL or node id."""
        known = self.data.nodes.get(url) or next(
            (n for n in self.data.nodes.values() if n.node_id == node_id), None
        )
        return Pinning(known, fingerprint)

    def pin(self, url: str, node_id: str, fingerprint: str, token: str | None) -> None:
        """Remember (or re-pin after confirmation) a node and its token; save."""
        self.data.nodes[url] = PinnedNode(
            url=url, node_id=node_id, fingerprint=fingerprint, token=token
        )
        self.data.last_url = url
        self.save()

    def forget_token(self, url: str) -> None:
        """Drop a refused token, keep the pinned fingerprint."""
        known = self.data.nodes.get(url)
        if known is not None:
            self.data.nodes[url] = msgspec.structs.replace(known, token=None)
            self.save()
