"""Cut the power under a selling process again and again, and count what was lost.

One cycle: mount the surviving bytes, start a fresh `sell_child.py` (it finishes `init` if a
cut interrupted it, then sells), cut at a random point (during init, or mid-sale), kill the
child, unmount, and check the bytes left: the ledger verifies, its sequence has no gap, and
every sale the child reported as committed is there with the same order. Shared by
test_store_powercut.py and bench/powercut.py.

A cut during init is timed from the child's START line (printed once its imports are done, just
before init), within the time init took when it last ran to the end, so it lands inside init
rather than in Python's start-up. The lossy mount's report of what was unsynced at the cut says
which point it hit (`Tally.hits`: WAL growth, checkpoint, init's files).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lossymount import INIT_TARGETS, LossyMount
from survivors import ledger_problem

from appliance.errors import StallboxError
from appliance.services.box import init_state

CHILD = Path(__file__).with_name("sell_child.py")
CHECKPOINT_SHARE = 0.25  # selling cycles cut at a checkpoint (else at a random moment)
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
    hits: dict[str, int] = field(default_factory=dict)  # what was in flight at the cut: count
    init_s: float = 0.3  # how long init took when it last finished (times the init cuts)

    def hit(self, points: set[str]) -> None:
        """Count the points a cut landed on (from the mount's report)."""
        for point in points:
            self.hits[point] = self.hits.get(point, 0) + 1


def wait_for(lines: list[str], word: str, child: subprocess.Popen[str], deadline: float) -> bool:
    """Wait until the child printed `word` (False if it died or the deadline passed)."""
    while not any(line.startswith(word) for line in list(lines)):
        if child.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def cycle(disk: Path, mnt: Path, rng: random.Random, tally: Tally, weak: bool = False) -> None:
    """One power-on, some selling, one power cut; then check the surviving bytes.

    About one cycle in seven cuts during `init` of a new state dir instead (not with --weak).
    """
    during_init = not weak and rng.random() < 0.15
    name = f"init{tally.cuts}" if during_init else "state"
    fresh = not (disk / name / "stallbox.db").exists()
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    args = [sys.executable, str(CHILD), str(mnt / name), *(["--weak"] if weak else [])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stdout or []), daemon=True)
    reader.start()
    try:
        if not wait_for(lines, "START", child, time.monotonic() + 30):
            tally.failed_starts += 1
            err = child.stderr.read() if child.stderr and child.poll() is not None else "timeout"
            tally.problems.append(f"cut {tally.cuts}: the child did not start: {err[-400:]}")
        elif during_init and rng.random() < 0.6:  # at one of init's writes, chosen
            text, within = rng.choice(INIT_TARGETS)
            mount.arm(text, 0, rng.random() < 0.5, rng.random() < 0.3, within)
            mount.wait_cut(tally.init_s * 3 + 1)
        elif during_init:
            time.sleep(rng.uniform(0.0, tally.init_s))  # key, database, config
        elif wait_for(lines, "READY", child, time.monotonic() + 30):
            if rng.random() < CHECKPOINT_SHARE:  # at a checkpoint's first write to the database
                mount.arm("/stallbox.db", child.pid, rng.random() < 0.5, rng.random() < 0.3)
                mount.wait_cut(3)
            else:
                time.sleep(rng.uniform(0.0, 0.3))
        else:
            tally.failed_starts += 1
            tally.problems.append(f"cut {tally.cuts}: the child did not get ready")
        if not mount.is_cut:
            mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
    finally:
        child.kill()
        child.wait(10)
        reader.join(10)
        if child.stderr is not None:
            child.stderr.close()
        mount.unmount()
    tally.hit(mount.points())
    for line in lines:
        if line.startswith("INIT ") and fresh:
            tally.init_s = max(0.05, float(line.split()[1]))
        elif line.startswith("SOLD ") and not during_init:
            _, seq, order_id = line.split()
            tally.reported[int(seq)] = order_id
            tally.acked += 1
    if during_init:
        check_init(disk / name, tally)
    else:
        check(disk / name, tally)
    tally.cuts += 1


def check_init(state: Path, tally: Tally) -> None:
    """A cut init leaves nothing usable or a state dir that init finishes; the ledger verifies."""
    try:
        init_state(state, "BRL", datetime.now(UTC))  # what a vendor runs again after the cut
    except StallboxError as exc:
        tally.problems.append(f"cut {tally.cuts}: init after a cut during init: {exc}")
    else:
        if (problem := ledger_problem(state)) is not None:
            tally.broken_chains += 1
            tally.problems.append(f"cut {tally.cuts}: after init was cut: {problem}")
    shutil.rmtree(state, ignore_errors=True)  # done with it: keep the disk small


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
    if rows and (problem := ledger_problem(state)) is not None:
        tally.broken_chains += 1
        tally.problems.append(f"cut {tally.cuts}: ledger verify: {problem}")
