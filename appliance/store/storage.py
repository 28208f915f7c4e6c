"""How full the state dir's disk is, and whether a SQLite error means "no space left".

SQLite reports a write that hit ENOSPC as SQLITE_FULL ("database or disk is full"), on the
database, its WAL or a statement journal alike; a few paths (growing the WAL's shared memory,
a short write on some filesystems) come back as an SQLITE_IOERR_* instead, so an I/O error
while the disk has no room left is taken for a full disk too.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from appliance.store.errors import DiskFull, StoreError

NO_ROOM_BYTES = 256 * 1024  # an I/O error with less than this free is taken for a full disk
_FULL = sqlite3.SQLITE_FULL
_IOERR = sqlite3.SQLITE_IOERR


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged process may still write on the filesystem holding `directory`."""
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


def is_disk_full(exc: sqlite3.Error, directory: Path) -> bool:
    """True if `exc` says the disk is full (SQLITE_FULL, or an I/O error with no room left)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _FULL or (primary is None and "disk is full" in str(exc)):
        return True
    if primary == _IOERR:
        try:
            return free_bytes(directory) < NO_ROOM_BYTES
        except OSError:
            return False
    return False


def write_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """The store error for a failed write on the database at `path`: DiskFull when out of space."""
    if is_disk_full(exc, path.parent):
        return DiskFull(
            f"{path}: the disk is full ({exc}); writes are refused until space is freed"
        )
    return StoreError(f"{path}: write failed ({exc})")
