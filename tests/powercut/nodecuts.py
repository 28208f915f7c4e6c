"""Power cuts under the real node: clients selling over the operator plane, cut at random points.

A cycle mounts the surviving bytes, starts a fresh `stallbox node` (and, if the last `init`
was cut before it returned, runs `stallbox init` again first, as a vendor would), pairs a
console (the pairing file is written), sells from a few client threads, and cuts the power at a
random moment: during `init` of a new state dir, during pairing, or mid-sale. It then kills the
node, unmounts, and checks the bytes left: `stallbox ledger verify` holds and every sale a
client saw confirmed has the same receipt line at the same seq. Shared by
test_node_powercut.py and bench/powercut.py.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lossymount import LossyMount

sys.path.append(str(Path(__file__).resolve().parents[1] / "e2e"))
from nodeproc import REPO, NodeProcess, run_cli, start_node

SELLERS = 3

# The on-box console's Unix socket lives off the lossy mount, as on a box (RuntimeDirectory=,
# a tmpfs): FUSE here cannot hold a socket, and a socket holds no data a power cut could lose.
RUN_DIR = tempfile.mkdtemp(prefix="sbx-run-")


@dataclass
class NodeTally:
    """What a run of power cuts under the node found."""

    cuts: int = 0
    acked: int = 0
    lost: int = 0
    broken_chains: int = 0
    failed_starts: int = 0
    problems: list[str] = field(default_factory=list)
    receipts: dict[int, str] = field(default_factory=dict)  # seq -> line a client was shown
    initialised: dict[str, bool] = field(default_factory=dict)  # state dir -> init returned
    kinds: dict[str, int] = field(default_factory=dict)


def sell(node: NodeProcess, stop: threading.Event, acks: list[tuple[int, str]]) -> None:
    """Pair, then sell until stopped or the node is gone; record every confirmed receipt."""
    try:
        token = node.pair()
        with node.client(token) as api:
            while not stop.is_set():
                order = api.post("/api/orders", json={"lines": [{"sku": "pastel", "qty": 1}]})
                oid = order.json()["id"]
                api.post(f"/api/orders/{oid}/tender", json={"tender": "cash"})
                done = api.post(f"/api/orders/{oid}/confirm", json={}).json()
                if done.get("accepted") and done.get("receipt"):
                    acks.append((done["receipt"]["seq"], done["receipt"]["line"]))
    except (httpx.HTTPError, OSError, AssertionError, KeyError, ValueError, IndexError):
        return  # the power went: what was acknowledged before is in `acks`


def cut_init(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally, name: str) -> None:
    """Cut during `stallbox init` of a new state dir; remember whether init had returned."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    try:
        init = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "init", "--state", str(mnt / name)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.2, 1.2))  # python start-up, then key, database, config
        mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
        tally.initialised[name] = init.poll() == 0
        init.kill()
        init.wait(10)
    finally:
        mount.unmount()


def recover_init(disk: Path, mnt: Path, tally: NodeTally) -> None:
    """After an init cut: a finished init needs nothing, a cut one finishes when run again."""
    mount = LossyMount.start(disk, mnt)
    try:
        for name, done in list(tally.initialised.items()):
            if name == "state":
                continue
            state = mnt / name
            if done:
                check = run_cli("ledger", "verify", "--state", str(state))
                if check.returncode != 0:
                    tally.problems.append(f"{name}: init returned, then the cut broke it: {check}")
            elif (again := run_cli("init", "--state", str(state))).returncode != 0:
                tally.problems.append(f"{name}: init after a cut failed: {again.stderr}")
            del tally.initialised[name]
    finally:
        mount.unmount()


def cut_node(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally) -> None:
    """Start the node on the surviving bytes, pair and sell, cut at a random moment."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    state = mnt / "state"
    node: NodeProcess | None = None
    acks: list[tuple[int, str]] = []
    stop = threading.Event()
    sellers: list[threading.Thread] = []
    try:
        if not tally.initialised.get("state", False):
            assert run_cli("init", "--state", str(state)).returncode == 0
            tally.initialised["state"] = True
        try:
            node = start_node(state, deadline_s=30, RUNTIME_DIRECTORY=RUN_DIR)
        except AssertionError as exc:
            tally.failed_starts += 1
            tally.problems.append(f"cut {tally.cuts}: the node did not start: {str(exc)[-600:]}")
            return
        for _ in range(SELLERS):
            sellers.append(threading.Thread(target=sell, args=(node, stop, acks), daemon=True))
            sellers[-1].start()
        time.sleep(rng.uniform(0.0, 2.5))  # pairing takes ~1 s: early cuts hit its file writes
        mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
    finally:
        stop.set()
        if node is not None:
            node.process.kill()
            node.process.wait(10)
        for thread in sellers:
            thread.join(15)
        mount.unmount()
    for seq, line in acks:
        tally.receipts[seq] = line
        tally.acked += 1
    check(disk / "state", tally)


def check(state: Path, tally: NodeTally) -> None:
    """Every acknowledged receipt has its line at its seq; the chain verifies."""
    db = state / "stallbox.db"
    rows: dict[int, str] = {}
    if db.exists():
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            rows = dict(conn.execute("SELECT seq, line FROM receipts"))
        finally:
            conn.close()
    lost = [seq for seq, line in tally.receipts.items() if rows.get(seq) != line]
    if lost:
        tally.lost += len(lost)
        tally.problems.append(f"cut {tally.cuts}: {len(lost)} acknowledged receipts lost")
        for seq in lost:
            del tally.receipts[seq]
    verify = run_cli("ledger", "verify", "--state", str(state))
    if rows and verify.returncode != 0:
        tally.broken_chains += 1
        tally.problems.append(f"cut {tally.cuts}: ledger verify: {verify.stderr.strip()}")


def run(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally, cuts: int) -> None:
    """`cuts` power cuts: the first during init, then about one in six; the rest under the node."""
    for i in range(cuts):
        kind = "init" if i == 0 or rng.random() < 1 / 6 else "node"
        if kind == "init" and i == 0:  # the state dir the node will sell from
            cut_init(disk, mnt, rng, tally, "state")
        elif kind == "init":
            cut_init(disk, mnt, rng, tally, f"fresh{i}")
            recover_init(disk, mnt, tally)
        else:
            cut_node(disk, mnt, rng, tally)
        tally.cuts += 1
        tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
