"""Start `stallbox cloud` as a real process for tests: free port, temp state, optional PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY_LINE = re.compile(r"listening on (http://\S+)")


@dataclass
class CloudProcess:
    """A running cloud and what it printed."""

    process: subprocess.Popen[str]
    url: str
    state: Path
    output: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `stallbox ARGS` and wait."""
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
        check=False, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )  # fmt: skip


def start_cloud(state: Path, *extra: str, deadline_s: float = 20.0) -> CloudProcess:
    """Start the cloud on a free port and wait until it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "cloud", "serve", "--state", str(state),
         "--host", "127.0.0.1", "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for line in list(lines):
            if match := READY_LINE.search(line):
                return CloudProcess(process, match[1], state, lines)
        if process.poll() is not None:
            time.sleep(0.1)
            raise AssertionError("cloud exited early:\n" + "".join(lines))
        time.sleep(0.02)
    process.kill()
    raise AssertionError("cloud not ready in time:\n" + "".join(lines))
