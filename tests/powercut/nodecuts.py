"""Power cuts under the real node: clients selling over the operator plane, cut at random points.

A cycle mounts the surviving bytes, starts a fresh `stallbox node` (and, if the last `init`
was cut before it returned, runs `stallbox init` again first, as a vendor would), sells from a
few client threads, and cuts the power at a random moment: during `init` of a new state dir,
during pairing (a quarter of the cycles pair a console afresh: `pairing.json` is written), or
mid-sale. It then kills the node, unmounts, and checks the bytes left: the ledger verifies and
every sale a client saw confirmed has the same receipt line at the same seq. A console token
from an earlier power-on must still be accepted (its key and epoch survived). Shared by
test_node_powercut.py, stackcuts.py and bench/powercut.py.

What costs time is Python starting processes (~1 s each here), so the checks after a cut run in
this process on the surviving files (survivors.py), and pairing writes its code with the same
call `stallbox pair` makes; the node itself is always a fresh process on the surviving bytes.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import launch
from forkserver import ForkServer
from lossymount import INIT_TARGETS, LossyMount
from survivors import ledger_problem

sys.path.append(str(Path(__file__).resolve().parents[1] / "e2e"))
from nodeproc import REPO, NodeProcess, run_cli

from appliance.errors import StallboxError
from appliance.services.box import init_state
from appliance.services.pairing import new_code
from tui.errors import ConsoleError
from tui.pairing import pair_blocking

SELLERS = 3  # sell coffee: the sample catalogue stocks only 40 pastels
PAIR_SHARE = 0.25  # cycles that pair a console afresh (the rest reuse the last token)

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
    token: str = ""  # a console's token from an earlier power-on
    hits: dict[str, int] = field(default_factory=dict)  # what the cuts hit (LossyMount.points)
    forks: ForkServer | None = None  # where node processes come from (None: exec'd)

    def hit(self, points: set[str]) -> None:
        """Count the points a cut landed on."""
        for point in points:
            self.hits[point] = self.hits.get(point, 0) + 1


@dataclass
class Console:
    """The console side of one power-on: its token once paired, and what it was shown."""

    tally: NodeTally
    stop: threading.Event = field(default_factory=threading.Event)
    paired: threading.Event = field(default_factory=threading.Event)
    acks: list[tuple[int, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def pair(node: NodeProcess, console: Console) -> None:
    """Pair as a console does: a code in pairing.json (as `stallbox pair` writes it), the PAKE."""
    try:
        code = new_code(node.state)
        with node.client() as client:
            answer = pair_blocking(client, code, "powercut", node.fingerprint)
        console.tally.token = answer.token  # acknowledged: it must work after any later cut
    except (httpx.HTTPError, OSError, ConsoleError, StallboxError):
        return  # the power went mid-pairing
    finally:
        console.paired.set()


def sell(node: NodeProcess, console: Console) -> None:
    """Sell until stopped or the node is gone; record every confirmed receipt."""
    console.paired.wait(30)
    token = console.tally.token
    try:
        with node.client(token) as api:
            while not console.stop.is_set():
                order = api.post("/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]})
                if order.status_code == 401:
                    console.refused.append(order.text)
                    return
                oid = order.json()["id"]
                api.post(f"/api/orders/{oid}/tender", json={"tender": "cash"})
                done = api.post(f"/api/orders/{oid}/confirm", json={}).json()
                if done.get("accepted") and done.get("receipt"):
                    console.acks.append((done["receipt"]["seq"], done["receipt"]["line"]))
    except (httpx.HTTPError, OSError, KeyError, ValueError, IndexError):
        return  # the power went: what was acknowledged before is in `acks`


def start_console(
    node: NodeProcess, console: Console, rng: random.Random
) -> list[threading.Thread]:
    """Pair afresh (a share of the cycles, or with no token yet), then sell from SELLERS threads."""
    threads = []
    if not console.tally.token or rng.random() < PAIR_SHARE:
        threads.append(threading.Thread(target=pair, args=(node, console), daemon=True))
    else:
        console.paired.set()
    threads += [
        threading.Thread(target=sell, args=(node, console), daemon=True) for _ in range(SELLERS)
    ]
    for thread in threads:
        thread.start()
    return threads


def wait_for_sales(console: Console, deadline_s: float = 10) -> None:
    """Wait until a client was shown a sale (or the deadline passed)."""
    deadline = time.monotonic() + deadline_s
    while not console.acks and time.monotonic() < deadline:
        time.sleep(0.005)


def cut_init(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally, name: str) -> None:
    """Cut during `stallbox init` of a new state dir; remember whether init had returned."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    armed = rng.random() < 0.6  # at one of init's writes, chosen; else at a random moment
    if armed:
        text, within = rng.choice(INIT_TARGETS)
        mount.arm(text, 0, rng.random() < 0.5, rng.random() < 0.3, within)
    try:
        init = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "init", "--state", str(mnt / name)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30  # its imports done, init makes the state dir first
        while not (disk / name).exists() and init.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if not armed or not mount.wait_cut(5):
            time.sleep(rng.uniform(0.0, 0.4))  # then key, database, config
            mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
        tally.initialised[name] = init.poll() == 0
        init.kill()
        init.wait(10)
    finally:
        mount.unmount()
    tally.hit(mount.points())


def recover_init(disk: Path, tally: NodeTally) -> None:
    """After an init cut: a finished init needs nothing, a cut one finishes when run again."""
    for name, done in list(tally.initialised.items()):
        if name == "state":
            continue
        state = disk / name
        try:
            if not done:
                init_state(state, "BRL", datetime.now(UTC))  # what the vendor runs again
        except StallboxError as exc:
            tally.problems.append(f"{name}: init after a cut failed: {exc}")
        else:
            if (problem := ledger_problem(state)) is not None:
                what = "init returned, then the cut broke it" if done else "init again"
                tally.problems.append(f"{name}: {what}: {problem}")
        del tally.initialised[name]
        shutil.rmtree(state, ignore_errors=True)


def cut_node(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally) -> None:
    """Start the node on the surviving bytes, pair and sell, cut at a random moment."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    state = mnt / "state"
    node: NodeProcess | None = None
    console = Console(tally)
    threads: list[threading.Thread] = []
    try:
        if not tally.initialised.get("state", False):
            again = run_cli("init", "--state", str(state))
            assert again.returncode == 0, f"init after a cut during init: {again.stderr}"
            tally.initialised["state"] = True
        try:
            node = launch.node(tally.forks, state, RUNTIME_DIRECTORY=RUN_DIR)
        except AssertionError as exc:
            tally.failed_starts += 1
            tally.problems.append(f"cut {tally.cuts}: the node did not start: {str(exc)[-600:]}")
            return
        at_pairing = rng.random() < 0.3
        if at_pairing:  # at the write of pairing.json (the code, or the node's failure count)
            mount.arm(".pairing.json.", 0, rng.random() < 0.5, rng.random() < 0.3, True)
        threads = start_console(node, console, rng)
        if at_pairing and len(threads) > SELLERS and mount.wait_cut(3):
            pass
        elif len(threads) == SELLERS or rng.random() < 0.5:  # else cut while pairing
            wait_for_sales(console)
        if not mount.is_cut:
            time.sleep(rng.uniform(0.0, 0.6))
        if not mount.is_cut:
            mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
    finally:
        console.stop.set()
        console.paired.set()
        if node is not None:
            node.process.kill()
            node.process.wait(10)
        for thread in threads:
            thread.join(15)
        mount.unmount()
    tally.hit(mount.points())
    settle(disk / "state", tally, console)


def settle(state: Path, tally: NodeTally, console: Console) -> None:
    """Add what the console was shown to the tally, then check the surviving bytes."""
    for seq, line in console.acks:
        tally.receipts[seq] = line
        tally.acked += 1
    if console.refused:
        tally.problems.append(f"cut {tally.cuts}: a paired console was refused: {console.refused}")
    check(state, tally)


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
    if rows and (problem := ledger_problem(state)) is not None:
        tally.broken_chains += 1
        tally.problems.append(f"cut {tally.cuts}: ledger verify: {problem}")


def run(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally, cuts: int) -> None:
    """`cuts` power cuts: the first during init, then about one in six; the rest under the node."""
    for i in range(cuts):
        one(disk, mnt, rng, tally, i)


def one(disk: Path, mnt: Path, rng: random.Random, tally: NodeTally, i: int) -> None:
    """The i-th cut of a run: during init (the first, then about one in six) or under the node."""
    kind = "init" if i == 0 or rng.random() < 1 / 6 else "node"
    if kind == "init" and i == 0:  # the state dir the node will sell from
        cut_init(disk, mnt, rng, tally, "state")
    elif kind == "init":
        cut_init(disk, mnt, rng, tally, f"fresh{i}")
        recover_init(disk, tally)
    else:
        cut_node(disk, mnt, rng, tally)
    tally.cuts += 1
    tally.kinds[kind] = tally.kinds.get(kind, 0) + 1
