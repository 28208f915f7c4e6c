"""A FUSE passthrough that forgets what was not fsynced: power cuts for tests (issue 17).

The kernel keeps a killed process's writes (they are in its page cache), so `kill -9` never
shows what an SD card keeps when the plug is pulled: only what was fsynced. This mount writes
through to a backing directory but keeps an undo log of everything not yet made durable:

- file data: the bytes each write or truncate replaced, until fsync/fdatasync of that file;
- names: each create, link, mkdir, unlink, rmdir and rename, until fsync of the directory (both
  directories for a rename). Unlinked or replaced files wait in a hidden graveyard.

Writing `cut` to the control file `/.lossyfs-ctl` at the mount's root is the power cut: the
undo log is applied (newest first), the mount answers EIO from then on, and the process exits
when unmounted. `arm TEXT PID [tear] [reorder]` cuts instead at the next write to a file whose
path ends with TEXT (`arm-in`: contains TEXT) by process PID (0: any process), right after that
write (then answered EIO):
a cut at a chosen point, as SQLite's crash VFS cuts at a chosen sync. `--cut-flag FILE` is
created when the power goes, for a test waiting on an armed cut. `cut tear` keeps a random whole number of 512-byte sectors of the last unsynced
write (a torn write); `cut reorder` also keeps a random subset of the unsynced writes. A
per-fsync delay models an SD card's durable commit. At the cut the mount prints one line on
stderr, `lossyfs-cut: JSON`, naming what was unsynced (file data and name changes, with the ids
of the processes that made them), so a test can tell which point the cut hit.

    python tests/powercut/lossyfs.py BACKING MOUNTPOINT [--fsync-delay-ms N] [--seed S]
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import mfusepy

CONTROL = "/.lossyfs-ctl"
GRAVEYARD = ".lossyfs-graveyard"
SECTOR = 512


class Exit(IntEnum):
    """Exit codes of the mount process."""

    OK = 0
    USAGE = 2


@dataclass
class FileUndo:
    """What one file's unsynced writes replaced, and what they wrote (to reapply on a tear)."""

    durable_size: int
    undo: list[tuple[int, bytes]] = field(default_factory=list)
    writes: list[tuple[int, bytes]] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)  # who wrote them


@dataclass
class NameOp:
    """One unsynced change of names: how to undo it, and which directories make it durable."""

    kind: str  # create | mkdir | unlink | rmdir | rename
    dirs: set[str]
    path: str  # the name it made (create, mkdir, rename's new) or removed (unlink, rmdir)
    other: str = ""  # rename's old name
    buried: str = ""  # graveyard path of what unlink or rename-over removed
    pid: int = field(default_factory=lambda: _caller())


def _caller() -> int:
    """The id of the process whose request this is (0 outside a request).

    FUSE names the calling thread; a process's writes often come from its threads (SQLite's
    writer, aiosqlite), so the thread id is mapped to its process id (Tgid in /proc).
    """
    try:
        tid = int(mfusepy.fuse_get_context()[2])
    except (OSError, ValueError, AttributeError):
        return 0
    if tid not in _TGIDS:
        try:
            with open(f"/proc/{tid}/status", encoding="ascii", errors="replace") as status:
                _TGIDS[tid] = next(
                    (int(line.split()[1]) for line in status if line.startswith("Tgid:")), tid
                )
        except OSError:  # gone already
            return tid
    return _TGIDS[tid]


_TGIDS: dict[int, int] = {}  # thread id -> process id, for this mount's life


def _parent(path: str) -> str:
    return os.path.dirname(path.rstrip("/")) or "/"


class LossyFS(mfusepy.Operations):  # type: ignore[misc]
    """Passthrough operations with an undo log of everything not yet fsynced."""

    use_ns = True

    def __init__(self, backing: str, fsync_delay_s: float, rng: random.Random) -> None:
        self.root = os.path.realpath(backing)
        self.fsync_delay_s = fsync_delay_s
        self.rng = rng
        self.mutex = threading.RLock()
        self.files: dict[int, FileUndo] = {}  # by backing inode
        self.names: list[NameOp] = []
        self.cut = False
        self.buried = 0
        self.armed: tuple[str, int, bool, bool] | None = None  # text, pid, tear, reorder
        self.armed_in = False  # TEXT anywhere in the path, not only at its end
        self.cut_flag = ""
        os.makedirs(os.path.join(self.root, GRAVEYARD), exist_ok=True)

    # -- helpers ---------------------------------------------------------------------------

    def _real(self, path: str) -> str:
        if self.cut:
            raise mfusepy.FuseOSError(errno.EIO)
        return os.path.join(self.root, path.lstrip("/"))

    def _bury(self, real: str) -> str:
        self.buried += 1
        grave = os.path.join(self.root, GRAVEYARD, str(self.buried))
        os.rename(real, grave)
        return grave

    def _file(self, fd: int) -> FileUndo:
        st = os.fstat(fd)
        undo = self.files.get(st.st_ino)
        if undo is None:
            undo = self.files[st.st_ino] = FileUndo(durable_size=st.st_size)
        return undo

    def _save(self, fd: int, offset: int, length: int) -> FileUndo:
        undo = self._file(fd)
        size = os.fstat(fd).st_size
        if offset < size and length > 0:
            undo.undo.append((offset, os.pread(fd, min(length, size - offset), offset)))
        return undo

    # -- control ---------------------------------------------------------------------------

    def power_cut(self, tear: bool, reorder: bool) -> None:
        """Drop every unsynced change, newest first; optionally keep some of the writes."""
        with self.mutex:
            if self.cut:  # an armed cut fired first: the power is already off
                return
            self.cut = True
            if self.cut_flag:
                with open(self.cut_flag, "w", encoding="ascii") as flag:
                    flag.write("cut\n")
            self._report()
            last = self._last_write()
            for op in reversed(self.names):
                self._undo_name(op)
            self.names.clear()
            for ino, undo in self.files.items():
                real = self._find(ino)
                if real is None:
                    continue
                with open(real, "r+b") as f:
                    for offset, data in reversed(undo.undo):
                        os.pwrite(f.fileno(), data, offset)
                    os.ftruncate(f.fileno(), undo.durable_size)
                    kept = [w for w in undo.writes if reorder and self.rng.random() < 0.5]
                    if tear and last is not None and last[0] == ino:
                        off, data = last[1]
                        kept.append(
                            (off, data[: SECTOR * self.rng.randrange(len(data) // SECTOR + 1)])
                        )
                    for off, data in kept:
                        os.pwrite(f.fileno(), data, off)
                    os.fsync(f.fileno())
            self.files.clear()
            shutil.rmtree(os.path.join(self.root, GRAVEYARD), ignore_errors=True)

    def _report(self) -> None:
        """Print what is about to be lost: one JSON line for the test (see the module doc)."""
        lost: list[dict[str, Any]] = [
            {"op": op.kind, "path": op.path, "pids": [op.pid]} for op in self.names
        ]
        for ino, undo in self.files.items():
            if undo.writes or undo.undo:
                real = self._find(ino)
                path = "/" + os.path.relpath(real, self.root) if real else f"#{ino}"
                lost.append({"op": "data", "path": path, "pids": sorted(undo.pids)})
        print("lossyfs-cut: " + json.dumps(lost), file=sys.stderr, flush=True)

    def _last_write(self) -> tuple[int, tuple[int, bytes]] | None:
        last = None
        for ino, undo in self.files.items():
            if undo.writes:
                last = (ino, undo.writes[-1])
        return last

    def _find(self, ino: int) -> str | None:
        for dirpath, _dirs, names in os.walk(self.root):
            for name in names:
                real = os.path.join(dirpath, name)
                if os.lstat(real).st_ino == ino:
                    return real
        return None

    def _undo_name(self, op: NameOp) -> None:
        real = os.path.join(self.root, op.path.lstrip("/"))
        try:
            if op.kind == "create":
                os.unlink(real)
            elif op.kind == "mkdir":
                shutil.rmtree(real)
            elif op.kind in ("unlink", "rmdir"):
                os.rename(op.buried, real)
            elif op.kind == "rename":
                os.rename(real, os.path.join(self.root, op.other.lstrip("/")))
                if op.buried:
                    os.rename(op.buried, real)
        except OSError as e:  # a later undo already moved it: the log is best effort per name
            print(f"lossyfs: undo {op.kind} {op.path}: {e}", file=sys.stderr)

    # -- files -----------------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        """Stat the backing file (the control file looks like an empty file)."""
        if path == CONTROL:
            return {"st_mode": 0o100600, "st_nlink": 1, "st_size": 0}
        st = os.lstat(self._real(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino")
        out: dict[str, Any] = {k: getattr(st, k) for k in keys}
        for k in ("st_atime", "st_mtime", "st_ctime"):
            out[k] = getattr(st, k + "_ns")
        return out

    def readdir(self, path: str, fh: int) -> list[str]:
        """List the backing directory, without the graveyard."""
        names = [n for n in os.listdir(self._real(path)) if n != GRAVEYARD]
        return [".", "..", *names]

    def open(self, path: str, flags: int) -> int:
        """Open the backing file."""
        if path == CONTROL:
            return os.open(os.devnull, os.O_RDWR)
        keep = flags & ~(os.O_APPEND | os.O_ACCMODE | os.O_CREAT | os.O_EXCL | os.O_TRUNC)
        return os.open(self._real(path), keep | os.O_RDWR)

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        """Create the backing file; the name is unsynced until its directory is fsynced."""
        with self.mutex:
            real = self._real(path)
            existed = os.path.lexists(real)
            fd = os.open(real, os.O_RDWR | os.O_CREAT, mode)
            if not existed:
                self.names.append(NameOp("create", {_parent(path)}, path))
            return fd

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        """Read through."""
        if self.cut:
            raise mfusepy.FuseOSError(errno.EIO)
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        """Write through, remembering what was overwritten."""
        if path == CONTROL:
            words = data.decode().split()
            if words and words[0] == "cut":
                self.power_cut(tear="tear" in words, reorder="reorder" in words)
            elif len(words) >= 3 and words[0] in ("arm", "arm-in"):
                self.armed = (words[1], int(words[2]), "tear" in words, "reorder" in words)
                self.armed_in = words[0] == "arm-in"
            return len(data)
        with self.mutex:
            if self.cut:
                raise mfusepy.FuseOSError(errno.EIO)
            undo = self._save(fh, offset, len(data))
            undo.writes.append((offset, bytes(data)))
            pid = _caller()
            undo.pids.add(pid)
            written = os.pwrite(fh, data, offset)
            if self.armed and self._hits(path) and self.armed[1] in (0, pid):
                self.power_cut(tear=self.armed[2], reorder=self.armed[3])
                raise mfusepy.FuseOSError(errno.EIO)
            return written

    def _hits(self, path: str) -> bool:
        """Whether a write to `path` is the one the armed cut waits for."""
        assert self.armed is not None
        return self.armed[0] in path if self.armed_in else path.endswith(self.armed[0])

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        """Truncate through, remembering what was cut off."""
        with self.mutex:
            fd = fh if fh is not None else os.open(self._real(path), os.O_RDWR)
            try:
                self._save(fd, length, max(0, os.fstat(fd).st_size - length)).pids.add(_caller())
                os.ftruncate(fd, length)
            finally:
                if fh is None:
                    os.close(fd)
            return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        """Make this file's data durable (after the SD card's delay)."""
        if self.fsync_delay_s:
            time.sleep(self.fsync_delay_s)
        with self.mutex:
            if self.cut:
                raise mfusepy.FuseOSError(errno.EIO)
            self.files.pop(os.fstat(fh).st_ino, None)
            return 0

    def release(self, path: str, fh: int) -> int:
        """Close the backing descriptor."""
        os.close(fh)
        return 0

    def flush(self, path: str, fh: int) -> int:
        """Nothing: close is not a sync."""
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        """Set times (not tracked)."""
        if times is None:
            os.utime(self._real(path))
        else:
            os.utime(self._real(path), ns=times)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        """Set the mode (not tracked)."""
        os.chmod(self._real(path), mode)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        """The backing filesystem's figures."""
        st = os.statvfs(self._real(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files")
        return {k: getattr(st, k) for k in (*keys, "f_flag", "f_frsize", "f_namemax")}

    # -- names -----------------------------------------------------------------------------

    def mkdir(self, path: str, mode: int) -> int:
        """Make a directory; unsynced until its parent is fsynced."""
        with self.mutex:
            os.mkdir(self._real(path), mode)
            self.names.append(NameOp("mkdir", {_parent(path)}, path))
            return 0

    def unlink(self, path: str) -> int:
        """Move the file to the graveyard until its directory is fsynced."""
        with self.mutex:
            grave = self._bury(self._real(path))
            self.names.append(NameOp("unlink", {_parent(path)}, path, buried=grave))
            return 0

    def rmdir(self, path: str) -> int:
        """Remove an empty directory (to the graveyard until its parent is fsynced)."""
        with self.mutex:
            real = self._real(path)
            if os.listdir(real):
                raise mfusepy.FuseOSError(errno.ENOTEMPTY)
            grave = self._bury(real)
            self.names.append(NameOp("rmdir", {_parent(path)}, path, buried=grave))
            return 0

    def rename(self, old: str, new: str) -> int:
        """Rename; what it replaced waits in the graveyard until both directories are fsynced."""
        with self.mutex:
            real_new = self._real(new)
            grave = self._bury(real_new) if os.path.lexists(real_new) else ""
            os.rename(self._real(old), real_new)
            self.names.append(
                NameOp("rename", {_parent(old), _parent(new)}, new, other=old, buried=grave)
            )
            return 0

    def link(self, target: str, source: str) -> int:
        """Hard-link `target` to `source`; the new name is unsynced until its directory is."""
        with self.mutex:
            os.link(self._real(source), self._real(target))
            self.names.append(NameOp("create", {_parent(target)}, target))
            return 0

    def opendir(self, path: str) -> int:
        """Directories need no descriptor of ours."""
        self._real(path)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        """Make the names in this directory durable."""
        if self.fsync_delay_s:
            time.sleep(self.fsync_delay_s)
        with self.mutex:
            if self.cut:
                raise mfusepy.FuseOSError(errno.EIO)
            for op in self.names:
                op.dirs.discard(path)
            done = [op for op in self.names if not op.dirs]
            self.names = [op for op in self.names if op.dirs]
            for op in done:
                if op.buried:
                    _remove(op.buried)
            return 0


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    """Mount BACKING at MOUNTPOINT until unmounted."""
    parser = argparse.ArgumentParser(prog="lossyfs", description=__doc__.splitlines()[0])
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--fsync-delay-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--cut-flag", default="", help="a file to create when the power goes")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.backing):
        print(f"lossyfs: backing: not a directory: {args.backing}", file=sys.stderr)
        return Exit.USAGE
    ops = LossyFS(args.backing, args.fsync_delay_ms / 1000, random.Random(args.seed))
    ops.cut_flag = args.cut_flag
    mfusepy.FUSE(
        ops, args.mountpoint, foreground=True, nothreads=False, use_ino=True
    )  # a disk's inodes
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
