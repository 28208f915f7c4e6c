"""The console in a real terminal: `stallbox console` runs in tmux against a node; keys sent with
`send-keys` complete a cash sale and `capture-pane` shows the receipt confirmation; then Orders,
Down and `v` void the order the pane shows marked (▶), after the question naming it; and Ctrl+Q
with an order waiting asks before `q` quits.

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
from typing import Any

import httpx
import pytest
from console_support import pairing_code
from nodeproc import REPO, NodeProcess

from tui.state import ConsoleState

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
        """What the pane shows now (CLDR's no-break spaces, as in "R$ 8,00", read as spaces)."""
        return self.run("capture-pane", "-p", "-t", "console").replace("\xa0", " ")

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
    pinned = ConsoleState(tmp_path / "console.json").node(stall.operator_url)
    assert pinned is not None and pinned.token and pinned.fingerprint.startswith("SHA256:")

    # The vendor opens Orders, presses Down and v: the order marked ▶ is the one voided, after
    # the question that names it.
    with stall.client(pinned.token) as api:
        newest = paid_order(api)  # two paid orders (the cash sale above and this), none waiting
        listed = api.get("/api/orders?state=paid").json()
        target = listed[-2]  # the list shows the latest first: Down marks the second
        assert target["id"] != newest["id"]
        tmux.keys("Enter", "F3")
        tmux.wait_for("Paid (latest first)")
        wait_marked(tmux, newest["reference"])  # the waiting list is empty: the paid one has focus
        tmux.keys("Down")
        marked = wait_marked(tmux, target["reference"])
        tmux.keys("v")
        question = tmux.wait_for(f"VOID order #{target['number']} · REF {target['reference']}")
        assert api.get(f"/api/orders/{target['id']}").json()["state"] == "paid", question
        tmux.keys("v")
        tmux.wait_for(f"Order #{target['number']} voided")
        assert api.get(f"/api/orders/{target['id']}").json()["state"] == "voided", marked
        assert api.get(f"/api/orders/{newest['id']}").json()["state"] == "paid"

        # Ctrl+Q with an order waiting asks first; q answers yes (README: `q` quits).
        waiting = api.post("/api/orders", json={"lines": [{"sku": "coffee"}]}).json()
        assert api.post(f"/api/orders/{waiting['id']}/tender", json={"tender": "cash"}).is_success
    tmux.run("set-option", "-t", "console", "remain-on-exit", "on")
    tmux.keys("C-q")
    tmux.wait_for("waiting for payment (F3). Quit anyway?")
    tmux.keys("q")  # quits cleanly: the pane's process ends with status 0
    deadline = time.monotonic() + 10
    while tmux.run("display-message", "-p", "-t", "console", "#{pane_dead}").strip() != "1":
        assert time.monotonic() < deadline, "the console did not quit after the question"
        time.sleep(0.05)
    assert "Traceback" not in tmux.screen()  # it would be printed after the alternate screen


def paid_order(api: httpx.Client) -> dict[str, Any]:
    """One coffee paid in cash, through the node's API."""
    order = api.post("/api/orders", json={"lines": [{"sku": "coffee"}]}).json()
    assert api.post(f"/api/orders/{order['id']}/tender", json={"tender": "cash"}).is_success
    confirmed = api.post(f"/api/orders/{order['id']}/confirm", json={}).json()
    assert confirmed["accepted"], confirmed
    return dict(confirmed["order"])


def wait_marked(tmux: Tmux, reference: str, timeout: float = 10.0) -> str:
    """Wait until the ▶-marked row is the one with `reference`; that row."""
    deadline = time.monotonic() + timeout
    while True:
        rows = [line for line in tmux.screen().splitlines() if "▶" in line]
        if len(rows) == 1 and reference in rows[0]:
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"the marked row never showed {reference!r}:\n{tmux.screen()}")
        time.sleep(0.05)
