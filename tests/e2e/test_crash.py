"""Kill -9 a selling process at random moments: every sale it reported survives, gapless.

The child reports a sale only after its commit returned. SQLite in WAL with synchronous=FULL
must then keep it through any kill; the chain must still verify end to end.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.services.box import init_state

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 30
DEADLINE_S = 240


def run_until_killed(state: Path, rng: random.Random, reported: dict[int, str]) -> None:
    """Start the child, let it sell for a random while, SIGKILL it, collect what it reported."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(CHILD.parents[2])},
    )  # fmt: skip
    assert child.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 30
    while not any(line.startswith("READY") for line in list(lines)):
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "child never became ready"
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.25))  # a random moment in the middle of selling
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    reader.join(10)
    for line in lines:
        if line.startswith("SOLD "):
            _, seq, order_id = line.split()
            reported[int(seq)] = order_id


@pytest.mark.slow
def test_reported_sales_survive_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261126")))
    reported: dict[int, str] = {}
    started = time.monotonic()
    for _ in range(KILLS):
        run_until_killed(state, rng, reported)
        assert time.monotonic() - started < DEADLINE_S
    assert len(reported) > KILLS, "the child sold too little to prove anything"

    conn = sqlite3.connect(state / "stallbox.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(conn.execute("SELECT seq, order_id FROM receipts WHERE kind = 'sale'"))
        seqs = [row[0] for row in conn.execute("SELECT seq FROM receipts ORDER BY seq")]
        paid = dict(conn.execute("SELECT id, receipt_seq FROM orders WHERE state = 'paid'"))
    finally:
        conn.close()
    assert seqs == list(range(len(seqs))), "the receipt sequence has a gap"
    for seq, order_id in reported.items():
        assert rows.get(seq) == order_id, f"reported sale at seq {seq} is lost"
        assert paid.get(order_id) == seq
    verify = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "ledger", "verify", "--state", str(state)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert f"{len(seqs)} receipts" in verify.stdout
