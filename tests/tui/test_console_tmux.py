"""The console in a real terminal: `stallbox console` runs in tmux against a node; keys sent with
`send-keys` complete a cash sale and `capture-pane` shows the receipt confirmation.

tmux runs on a private socket (-L) so it never touches a user's sessions, and its server is
killed at the end whatever happens.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import pairing_code, stall
from nodeproc import REPO, NodeProcess

from tui.state import ConsoleState

__all__ = ["stall"]  # fixtures, used by name

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


class Tmux:
    """One private tmux server."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        """tmux -L SOCKET ARGS; its stdout."""
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        """What the pane shows now."""
        return self.run("capture-pane", "-p", "-t", "console")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        """Poll the pane until it shows `text`."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"pane never showed {text!r}; it shows:\n{screen}")
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        """send-keys, each argument one key name or literal."""
        self.run("send-keys", "-t", "console", *keys)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(f"stallbox-test-{os.getpid()}")
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], capture_output=True, timeout=10)


def test_a_cash_sale_in_a_real_terminal(stall: NodeProcess, tmp_path: Path, tmux: Tmux) -> None:
    command = shlex.join(
        [sys.executable, "-m", "appliance.cli", "console", "--node", stall.operator_url,
         "--console-state", str(tmp_path / "console.json"), "--poll", "0.5",
         "--pair-code", pairing_code(stall)]  # first contact pairs by itself, as the demo does
    )  # fmt: skip
    env = f"PYTHONPATH={shlex.quote(str(REPO))} TERM=xterm-256color"
    tmux.run(
        "new-session", "-d", "-s", "console", "-x", "100", "-y", "30", "-c", str(REPO),
        f"env {env} {command}",  # Textual draws on stderr: leave it on the terminal
    )  # fmt: skip
    tmux.wait_for("Coffee")
    tmux.wait_for("node up")
    tmux.keys("1", "1")  # two coffees
    tmux.wait_for("2 x Coffee")
    tmux.keys("Enter")
    tmux.wait_for("cash (change due)")
    tmux.keys("c")
    tmux.wait_for("REF 0")  # the reference the node gave
    tmux.keys("2", "0")
    tmux.wait_for("CHANGE DUE R$ 8,00")
    tmux.keys("Enter")
    tmux.wait_for("✔ PAID")
    screen = tmux.wait_for("receipt #")
    assert "CASH" in screen and "Order #" in screen, screen
    assert "Traceback" not in screen
    tmux.run("set-option", "-t", "console", "remain-on-exit", "on")
    tmux.keys("C-q")  # quits cleanly: the pane's process ends with status 0
    deadline = time.monotonic() + 10
    while tmux.run("display-message", "-p", "-t", "console", "#{pane_dead}").strip() != "1":
        assert time.monotonic() < deadline, "the console did not quit on ctrl+q"
        time.sleep(0.05)
    assert "Traceback" not in tmux.screen()  # it would be printed after the alternate screen
    pinned = ConsoleState(tmp_path / "console.json").node(stall.operator_url)
    assert pinned is not None and pinned.token and pinned.fingerprint.startswith("SHA256:")
