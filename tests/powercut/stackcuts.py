"""Power cuts under the node, the sync daemon and the cloud together, all on the lossy mount.

The box's state and the cloud's state share one mount (one power supply, as in a test rig);
the cloud listens on one port for the whole run, as enrolment stored its URL. Each cycle starts
the cloud, the node and `stallbox sync` on the surviving bytes, sells, and cuts. Afterwards:
the daemon's acked seq is at most the device's last seq; the cloud holds each seq once, with no
gap, and each line equals the box's line at that seq. At the end, with no cut, sync must catch
up: the cloud's head reaches the box's.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import launch
from forkserver import ForkServer
from lossymount import LossyMount
from nodecuts import RUN_DIR, Console, NodeTally, settle, start_console, wait_for_sales
from nodeproc import NodeProcess, run_cli
from syncproc import Proc, free_port, start_cloud

from sync.cloud.sqlite_store import DB_NAME as CLOUD_DB

ACKED_SHARE = 0.4  # cuts at the daemon's acked-seq update (else at a random moment)


@dataclass
class CloudTally:
    """What the cloud side of the cuts found."""

    duplicates: int = 0
    gaps: int = 0
    forks: int = 0
    ahead_of_box: int = 0


def enrol_once(mount: LossyMount, port: int) -> Proc:
    """Start the cloud and enrol the box with it (cloud.json is written: a cut point too)."""
    cloud = start_cloud(mount.path / "cloud", port)
    token = run_cli("cloud", "enrol-token", "--state", str(mount.path / "cloud"))
    assert token.returncode == 0, token.stderr
    done = run_cli(
        "enrol", cloud.url, token.stdout.split()[-1], "--state", str(mount.path / "state")
    )
    assert done.returncode == 0, done.stderr
    return cloud


def cut_stack(
    disk: Path, mnt: Path, port: int, rng: random.Random, tally: NodeTally, clouds: CloudTally
) -> None:
    """Cloud, node, daemon and sellers on the surviving bytes; cut at a random moment."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    procs: list[Proc] = []
    node: NodeProcess | None = None
    console = Console(tally)
    threads: list[threading.Thread] = []
    try:
        if not (disk / "state" / "device.key").exists():
            assert run_cli("init", "--state", str(mnt / "state")).returncode == 0
        if (disk / "state" / "cloud.json").exists():
            procs.append(spawn_cloud(tally.forks, mnt / "cloud", port))  # beside the node
        else:
            procs.append(enrol_once(mount, port))
        node = launch.node(tally.forks, mnt / "state", RUNTIME_DIRECTORY=RUN_DIR)
        procs.append(launch.spawn(tally.forks, "sync", "--state", str(mnt / "state")))
        threads = start_console(node, console, rng)
        if rng.random() < 0.7:  # mid-sale (else during pairing, start-up, enrolment)
            wait_for_sales(console)
        if rng.random() < ACKED_SHARE:  # at the daemon's write of its acked seq
            daemon = procs[-1].process.pid
            mount.arm("stallbox.db-wal", daemon, rng.random() < 0.5, rng.random() < 0.3)
            mount.wait_cut(3)
        else:
            time.sleep(rng.uniform(0.0, 1.0))
        if not mount.is_cut:
            mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
    except AssertionError as exc:
        tally.failed_starts += 1
        tally.problems.append(f"cut {tally.cuts}: a process did not start: {str(exc)[-600:]}")
        mount.cut()
    finally:
        console.stop.set()
        console.paired.set()
        for proc in procs:
            proc.kill()
        if node is not None:
            node.process.kill()
            node.process.wait(10)
        for thread in threads:
            thread.join(15)
        mount.unmount()
    sync_pid = procs[-1].process.pid if len(procs) == 2 else -1
    tally.hit(mount.points({sync_pid: "sync"}))
    settle(disk / "state", tally, console)
    check_cloud(disk, tally, clouds)


def spawn_cloud(forks: ForkServer | None, state: Path, port: int) -> Proc:
    """`stallbox cloud serve` on `port`, not waiting for it: the daemon retries until it is up."""
    args = ("cloud", "serve", "--state", str(state), "--host", "127.0.0.1", "--port", str(port))
    cloud = launch.spawn(forks, *args)
    cloud.state = state
    return cloud


def box_lines(disk: Path) -> tuple[dict[int, str], int]:
    """The box's receipt lines by seq, and the daemon's acked seq."""
    conn = sqlite3.connect(f"{(disk / 'state' / 'stallbox.db').as_uri()}?mode=ro", uri=True)
    try:
        lines = dict(conn.execute("SELECT seq, line FROM receipts"))
        acked = conn.execute("SELECT acked_seq FROM sync_state WHERE id = 1").fetchone()
    finally:
        conn.close()
    return lines, int(acked[0]) if acked else -1


def cloud_lines(disk: Path) -> list[tuple[int, str]]:
    """Every (seq, line) the cloud holds, in log order."""
    db = disk / "cloud" / CLOUD_DB
    if not db.exists():
        return []
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT seq, line FROM receipts ORDER BY log_index"))
    except sqlite3.OperationalError:  # the cloud was cut before its schema
        return []
    finally:
        conn.close()


def check_cloud(disk: Path, tally: NodeTally, clouds: CloudTally) -> None:
    """Acked seq within the box's chain; the cloud's copy has no duplicate, gap or fork."""
    if not (disk / "state" / "stallbox.db").exists():
        return
    lines, acked = box_lines(disk)
    if lines and acked > max(lines):
        tally.problems.append(f"cut {tally.cuts}: acked seq {acked} > device seq {max(lines)}")
    held = cloud_lines(disk)
    seqs = [seq for seq, _ in held]
    clouds.duplicates += len(seqs) - len(set(seqs))
    distinct = sorted(set(seqs))
    clouds.gaps += sum(1 for a, b in itertools.pairwise(distinct) if b != a + 1)
    if seqs and min(seqs) != 0:
        clouds.gaps += 1
    for seq, line in held:
        if seq not in lines:
            clouds.ahead_of_box += 1  # the cloud holds a receipt the box lost: a lost sale
        elif lines[seq] != line:
            clouds.forks += 1
    if clouds.duplicates or clouds.gaps or clouds.forks or clouds.ahead_of_box:
        tally.problems.append(f"cut {tally.cuts}: cloud {clouds}")


def catch_up(disk: Path, mnt: Path, port: int, deadline_s: float = 60) -> bool:
    """No cut: start the cloud and `sync --once` until the cloud's head reaches the box's."""
    mount = LossyMount.start(disk, mnt)
    cloud = start_cloud(mnt / "cloud", port)
    try:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            run_cli("sync", "--once", "--state", str(mnt / "state"))
            lines, _ = box_lines(mnt)
            if {seq for seq, _ in cloud_lines(mnt)} == set(lines):
                return True
        return False
    finally:
        cloud.kill()
        mount.unmount()


def run_stack(
    disk: Path, mnt: Path, rng: random.Random, cuts: int, forks: ForkServer | None = None
) -> tuple[NodeTally, CloudTally]:
    """`cuts` cuts under the whole stack, then a catch-up with the power on."""
    tally, clouds, port = NodeTally(forks=forks), CloudTally(), free_port()
    for _ in range(cuts):
        cut_stack(disk, mnt, port, rng, tally, clouds)
        tally.cuts += 1
    if (disk / "state" / "cloud.json").exists() and not catch_up(disk, mnt, port):
        tally.problems.append("sync did not catch up with the box after the cuts")
    return tally, clouds
