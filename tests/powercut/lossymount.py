"""Mount, cut and unmount the lossy filesystem from a test: one LossyMount per power-on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
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

    @classmethod
    def start(
        cls, backing: Path, path: Path, fsync_delay_ms: float = 0, seed: int = 0
    ) -> LossyMount:
        """Mount backing at path and wait until the mount answers."""
        backing.mkdir(parents=True, exist_ok=True)
        path.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, str(LOSSYFS), str(backing), str(path)]
        args += ["--fsync-delay-ms", str(fsync_delay_ms), "--seed", str(seed)]
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

    def unmount(self) -> None:
        """Unmount (lazily, in case a killed process still holds it) and wait for the process."""
        subprocess.run(
            ["fusermount3", "-u", "-z", str(self.path)], check=False, capture_output=True
        )
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
