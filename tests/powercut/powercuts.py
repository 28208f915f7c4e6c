"""Cut the power under a selling process again and again, and count what was lost.

One cycle: mount the surviving bytes, start a fresh `sell_child.py` (it finishes `init` if a
cut interrupted it, then sells), cut at a random point (during init, or mid-sale), kill the
child, unmount, and check the bytes left: the ledger verifies, its sequence has no gap, and
every sale the child reported as committed is there with the same order. Shared by
test_store_powercut.py and bench/powercut.py.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lossymount import LossyMount

CHILD = Path(__file__).with_name("sell_child.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Tally:
    """What a run of power cuts found."""

    cuts: int = 0
    acked: int = 0
    lost: int = 0
    broken_chains: int = 0
    failed_starts: int = 0
    problems: list[str] = field(default_factory=list)
    reported: dict[int, str] = field(default_factory=dict)  # seq -> order id, every ack so far


def wait_for(lines: list[str], word: str, child: subprocess.Popen[str], deadline: float) -> bool:
    """Wait until the child printed `word` (False if it died or the deadline passed)."""
    while not any(line.startswith(word) for line in list(lines)):
        if child.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def cycle(disk: Path, mnt: Path, rng: random.Random, tally: Tally, weak: bool = False) -> None:
    """One power-on, some selling, one power cut; then check the surviving bytes."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    args = [sys.executable, str(CHILD), str(mnt / "state"), *(["--weak"] if weak else [])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout or []), daemon=True)
    reader.start()
    try:
        during_init = not (disk / "state" / "stallbox.db").exists() or rng.random() < 0.1
        if during_init:
            time.sleep(rng.uniform(0.0, 0.6))  # python start-up, then init: key, db, config
        elif wait_for(lines, "READY", child, time.monotonic() + 30):
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            tally.failed_starts += 1
            err = child.stderr.read() if child.stderr and child.poll() is not None else "timeout"
            tally.problems.append(f"cut {tally.cuts}: the child did not start: {err[-400:]}")
        mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
    finally:
        child.kill()
        child.wait(10)
        reader.join(10)
        if child.stderr is not None:
            child.stderr.close()
        mount.unmount()
    tally.cuts += 1
    for line in lines:
        if line.startswith("SOLD "):
            _, seq, order_id = line.split()
            tally.reported[int(seq)] = order_id
            tally.acked += 1
    check(disk / "state", tally)


def check(state: Path, tally: Tally) -> None:
    """Count reported sales missing from the surviving ledger, and chains that do not verify."""
    db = state / "stallbox.db"
    rows: dict[int, str] = {}
    if db.exists():
        # Not mode=ro: after a cut the WAL may need recovery (its index rebuilt), which a read-only
        # connection cannot do ("attempt to write a readonly database"); a restarting node would.
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA query_only = ON")
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                tally.problems.append(f"cut {tally.cuts}: integrity_check failed")
            try:
                rows = dict(conn.execute("SELECT seq, order_id FROM receipts WHERE kind = 'sale'"))
            except sqlite3.OperationalError:  # init cut before the schema: nothing sold yet
                rows = {}
        finally:
            conn.close()
    lost = {seq: oid for seq, oid in tally.reported.items() if rows.get(seq) != oid}
    if lost:
        tally.lost += len(lost)
        tally.problems.append(f"cut {tally.cuts}: {len(lost)} acknowledged sales lost")
        # what was lost is lost: later sales reuse those seqs, so stop tracking them
        for seq in lost:
            del tally.reported[seq]
    if rows:
        verify = subprocess.run(
            [sys.executable, "-m", "appliance.cli", "ledger", "verify", "--state", str(state)],
            capture_output=True, text=True, check=False, cwd=REPO, timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        if verify.returncode != 0:
            tally.broken_chains += 1
            tally.problems.append(f"cut {tally.cuts}: ledger verify: {verify.stderr.strip()}")
