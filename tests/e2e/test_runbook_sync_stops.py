"""docs/operations.md's "Sync stopped: token refused" runbook on real processes (issue 22).

The cloud revoked the box's token; the daemon stops ("enrol the box again"). Re-enrolling must
reach the running daemon: it picks up the new cloud.json, clears that stop, and ships what
waited, with no restart (it used to keep the old token and stop again).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from nodeproc import run_cli
from syncproc import Proc, cloud_head, enrol, make_sales, spawn, start_cloud

from appliance.ledger.identity import load_key


def until(check: Callable[[], bool], what: str, proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; sync said:\n{proc.text()}")
        time.sleep(0.1)


def stopped(box: Path) -> str | None:
    with sqlite3.connect(f"file:{box / 'stallbox.db'}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT stopped FROM sync_state").fetchone()
    return None if row[0] is None else str(row[0])


def test_re_enrolling_reaches_a_running_daemon(tmp_path: Path) -> None:
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    make_sales(box, 5)
    cloud = start_cloud(cloud_state)
    daemon: Proc | None = None
    try:
        enrol(box, cloud_state, cloud.url)
        daemon = spawn("sync", "--state", str(box))
        until(lambda: cloud_head(box).seq == 5, "the first sales in the cloud", daemon)
        device = load_key(box).key_id
        revoked = run_cli("cloud", "revoke", device, "--yes", "--state", str(cloud_state))
        assert revoked.returncode == 0, revoked.stderr
        make_sales(box, 3)
        until(lambda: "revoked" in (stopped(box) or ""), "the stop", daemon)
        enrol(box, cloud_state, cloud.url)  # the runbook's one step: enrol again
        until(lambda: stopped(box) is None and cloud_head(box).seq == 8, "the rest shipped", daemon)
        assert daemon.process.poll() is None  # the same process: no restart
        assert "cloud.json changed" in daemon.text()
    finally:
        if daemon is not None:
            assert daemon.stop() == 0
        cloud.stop()
