"""Operator token checks made cheap: verified tokens and the token epoch, cached.

Every operator request checks its token. Done in full that is an Ed25519 verify plus a read and
parse of `pairing.json` for the epoch — bench/node.py measured ~241 µs per request on a 2-vCPU
VM, a quarter of the operator plane's whole budget over a confirm. A console sends the same
token for hours, so:

- a token whose signature verified is kept with its claims (at most MAX_TOKENS, oldest out);
  expiry and epoch are still checked on every call, so caching never extends a token's life;
- the epoch is read again only when the file changed: one stat() per check, keyed by inode,
  size and change times. `stallbox pair --revoke` replaces the file (a new inode), so the next
  request after it sees the new epoch and every earlier token is refused at once.

Tokens that fail to verify are not cached: the table holds only what the node itself signed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

C = TypeVar("C")
MAX_TOKENS = 256  # consoles of one stall: a handful; the bound is against anything else
FileKey = tuple[int, int, int, int, int] | None


def _file_key(path: Path) -> FileKey:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class TokenCache(Generic[C]):
    """Claims of tokens already verified, and the epoch of the file they are checked against."""

    def __init__(self, path: Path, read_epoch: Callable[[], int], size: int = MAX_TOKENS) -> None:
        self.path, self.read_epoch, self.size = path, read_epoch, size
        self._claims: OrderedDict[str, C] = OrderedDict()
        self._key: FileKey = None
        self._epoch: int | None = None

    def epoch(self) -> int:
        """The current token epoch; the file is read only when its stat changed."""
        key = _file_key(self.path)
        if self._epoch is None or key != self._key:
            # stat first, then read: a change in between leaves an older key, so the next call
            # reads again (never a newer key with an older epoch)
            epoch = self.read_epoch()
            if self._epoch is not None and epoch != self._epoch:
                self._claims.clear()  # tokens of another epoch are no use any more
            self._key, self._epoch = key, epoch
        return self._epoch

    def forget_epoch(self) -> None:
        """Read the epoch again at the next check (it changed somewhere other than the file)."""
        self._key = self._epoch = None
        self._claims.clear()

    def get(self, token: str) -> C | None:
        """The claims of `token` if it verified before."""
        return self._claims.get(token)

    def put(self, token: str, claims: C) -> None:
        """Remember a token whose signature verified."""
        self._claims[token] = claims
        while len(self._claims) > self.size:
            self._claims.popitem(last=False)
