"""Mount, cut and unmount the lossy filesystem from a test: one LossyMount per power-on.

After the unmount, `points()` names what the cut hit, from the mount's report of what was not
yet durable: a commit growing the WAL, a checkpoint writing the database file, the daemon's
acked-seq update (a WAL write by the sync daemon's process), init, the key, the config, the
pairing file, the enrolment, the cloud's store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOSSYFS = Path(__file__).with_name("lossyfs.py")


def skip_without_fuse() -> None:
    """Skip the calling test, with the reason, where FUSE cannot be mounted."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: the lossy filesystem needs FUSE")
    if shutil.which("fusermount3") is None:
        pytest.skip("no fusermount3: install Debian's fuse3 (.ci/apt-packages)")
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        pytest.skip("/dev/fuse is not usable by this user")


@dataclass
class LossyMount:
    """A running lossyfs process: `path` is the mount, `backing` what survives."""

    backing: Path
    path: Path
    process: subprocess.Popen[bytes]
    lost: list[dict[str, object]] = field(default_factory=list)  # the cut's report
    stderr: str = ""

    @classmethod
    def start(
        cls, backing: Path, path: Path, fsync_delay_ms: float = 0, seed: int = 0
    ) -> LossyMount:
        """Mount backing at path and wait until the mount answers."""
        backing.mkdir(parents=True, exist_ok=True)
        path.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, str(LOSSYFS), str(backing), str(path)]
        flag = path.with_name(path.name + ".cut")
        flag.unlink(missing_ok=True)
        args += ["--fsync-delay-ms", str(fsync_delay_ms), "--seed", str(seed)]
        args += ["--cut-flag", str(flag)]
        process = subprocess.Popen(args, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while not os.path.ismount(path):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                err = process.communicate()[1].decode(errors="replace")
                raise RuntimeError(f"lossyfs did not mount {path}: {err}")
            time.sleep(0.02)
        return cls(backing, path, process)

    def cut(self, tear: bool = False, reorder: bool = False) -> None:
        """Power cut: everything not fsynced is gone, and the mount answers EIO."""
        words = "cut" + (" tear" if tear else "") + (" reorder" if reorder else "")
        fd = os.open(self.path / ".lossyfs-ctl", os.O_WRONLY)
        try:
            os.write(fd, words.encode())
        finally:
            os.close(fd)

    def arm(
        self,
        text: str,
        pid: int = 0,
        tear: bool = False,
        reorder: bool = False,
        within: bool = False,
    ) -> None:
        """Cut at the next write to a path ending with (`within`: containing) `text` by process
        `pid` (0: anyone)."""
        command = "arm-in" if within else "arm"
        words = (
            f"{command} {text} {pid}" + (" tear" if tear else "") + (" reorder" if reorder else "")
        )
        fd = os.open(self.path / ".lossyfs-ctl", os.O_WRONLY)
        try:
            os.write(fd, words.encode())
        finally:
            os.close(fd)

    @property
    def is_cut(self) -> bool:
        """Whether the power went (a cut, or an armed cut that fired)."""
        return self.path.with_name(self.path.name + ".cut").exists()

    def wait_cut(self, deadline_s: float) -> bool:
        """Wait for an armed cut to fire; False if it did not within `deadline_s`."""
        deadline = time.monotonic() + deadline_s
        while not self.is_cut:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def unmount(self) -> None:
        """Unmount (lazily, in case a killed process still holds it) and wait for the process."""
        subprocess.run(
            ["fusermount3", "-u", "-z", str(self.path)], check=False, capture_output=True
        )
        try:
            err = self.process.communicate(timeout=15)[1]
        except subprocess.TimeoutExpired:
            self.process.kill()
            err = self.process.communicate()[1]
        self.stderr = (err or b"").decode(errors="replace")
        for line in self.stderr.splitlines():
            if line.startswith("lossyfs-cut: "):
                self.lost = json.loads(line.removeprefix("lossyfs-cut: "))

    def points(self, roles: dict[int, str] | None = None) -> set[str]:
        """The points the cut hit; `roles` names processes by id (e.g. {pid: "sync"})."""
        created = {e["path"] for e in self.lost if e["op"] == "create"}  # a new database
        return {
            "init" if entry["path"] in created and p in ("checkpoint", "wal") else p
            for entry in self.lost
            if (p := point(entry, roles or {}))
        }


TEMP = re.compile(r"^\.(.+)\.[0-9a-f]{8}\.tmp$")  # appliance/durable.py's temporary names
FILES = {
    "device.key": "key", "stallbox.toml": "config", "pairing.json": "pairing",
    "cloud.json": "enrolment", "operator.crt": "tls", "operator.key": "tls",
}  # fmt: skip


INIT_TARGETS = (
    ("/device.key", False), (".stallbox.toml.", True), ("/stallbox.db-wal", False),
    ("/stallbox.db", False),
)  # fmt: skip  # what init writes, in order: (text, within) for LossyMount.arm


def disk_names(directory: Path) -> list[str]:
    """The names a real disk would hold in `directory` after a cut: sorted, without the
    harness's own (`.lossyfs-…`) and without libfuse's `.fuse_hidden…` files.

    close() returns before the kernel's RELEASE reaches the filesystem, so a file just written
    and closed can still count as open when a rename replaces it; libfuse then renames it to
    `.fuse_hidden…` and unlinks that name on RELEASE, an unlink a cut may undo. A real disk
    drops the replaced inode with the rename itself, so these names are FUSE's, not the box's
    (as `point` below treats them).
    """
    return sorted(
        p.name for p in directory.iterdir() if not p.name.startswith((".fuse_hidden", ".lossyfs"))
    )


def point(entry: dict[str, object], roles: dict[int, str]) -> str:
    """Name the point one unsynced change belongs to ("" for what never needs to be durable)."""
    path, op = str(entry["path"]), str(entry["op"])
    name = os.path.basename(path)
    name = m[1] if (m := TEMP.match(name)) else name.removesuffix(".tmp")
    who = {roles.get(int(str(pid)), "") for pid in entry.get("pids", [])}  # type: ignore[attr-defined]
    if path.startswith("/cloud/") or path == "/cloud":
        return "cloud store"
    if path.startswith(("#", "/.lossyfs-")) or name.startswith(".fuse_hidden"):
        return ""  # gone before the cut (deleted, or the kernel's name for an unlinked open file)
    if name.endswith(("-shm", ".lock")):
        return ""  # shared memory and lock files: rebuilt or re-taken after a restart
    if op == "mkdir" or name.endswith("-journal"):  # a rollback journal: before WAL is on
        return "init"
    if name.endswith("-wal"):
        return "acked-seq update" if "sync" in who else ("init" if op != "data" else "wal")
    if name.endswith(".db"):
        return "checkpoint" if op == "data" else "init"
    return FILES.get(name, f"other ({name})")
