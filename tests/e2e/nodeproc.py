"""Start `stallbox node` as a real process for tests: free port, temp state, loopback mDNS."""

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

import httpx

from appliance.api.schemas import PairResponse
from appliance.ledger.identity import fingerprint, load_key
from appliance.tls import state_dir_context
from tui.pairing import pair_blocking

REPO = Path(__file__).resolve().parents[2]
READY_LINE = re.compile(r"listening on (https?://\S+)")  # any stallbox server's ready line
NODE_READY = re.compile(r"listening on (http://\S+) .*operator on (https://\S+)")


@dataclass
class NodeProcess:
    """A running node and what it printed."""

    process: subprocess.Popen[str]
    url: str  # the attendee plane, plain HTTP
    state: Path
    output: list[str] = field(default_factory=list)
    operator_url: str = ""  # the operator plane, TLS pinned to the device key

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then wait; return the exit code (raises if it takes longer than `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def client(self, token: str | None = None) -> httpx.Client:
        """An operator-plane client (TLS pinned to the node's certificate), with the token."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(
            base_url=self.operator_url, headers=headers, timeout=10,
            verify=state_dir_context(self.state),
        )  # fmt: skip

    def phone(self) -> httpx.Client:
        """An attendee-plane client (plain HTTP), like a phone on the venue Wi-Fi."""
        return httpx.Client(base_url=self.url, timeout=10)

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the node's device key, read from its state dir."""
        return fingerprint(load_key(self.state).public)

    def pair(self) -> str:
        """Pair like a console: `stallbox pair` for a code, then the PAKE for a token."""
        return self.pair_answer().token

    def pair_answer(self, name: str = "test") -> PairResponse:
        """Pair like a console; the node's whole answer (token, node id, fingerprint)."""
        code = run_cli("pair", "--state", str(self.state)).stdout.split()[2]
        with self.client() as client:
            return pair_blocking(client, code, name, self.fingerprint)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `stallbox ARGS` and wait."""
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
        check=False, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env}, timeout=60,
    )  # fmt: skip


def start_node(state: Path, *extra: str, deadline_s: float = 20.0, **env: str) -> NodeProcess:
    """Initialise `state` if needed, start the node on a free port, wait until it listens."""
    if not (state / "device.key").exists():
        assert run_cli("init", "--state", str(state)).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "node", "--state", str(state), "--host", "127.0.0.1",
         "--port", "0", "--operator-port", "0", "--interfaces", "loopback", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True).start()
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for line in list(lines):
            if match := NODE_READY.search(line):
                return NodeProcess(process, match[1], state, lines, match[2])
        if process.poll() is not None:
            time.sleep(0.1)
            raise AssertionError("node exited early:\n" + "".join(lines))
        time.sleep(0.02)
    process.kill()
    raise AssertionError("node not ready in time:\n" + "".join(lines))
