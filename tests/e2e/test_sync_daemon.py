"""The daemon against a real cloud process: it stops, loudly, when the cloud cannot be trusted.

A cloud that rewrites its log is caught by the consistency check; a cloud that lost part of the
chain answers 409 and the stream stops for the operator. In both cases acked_seq does not move
and not one local receipt is touched.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nodeproc import run_cli, start_node
from syncproc import Proc, enrol, make_sales, start_cloud

from appliance.ledger.receipt import line_hash
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from sync.cloud.sqlite_store import DB_NAME as CLOUD_DB
from sync.tlog import Frontier, leaf_hash


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Path, Path, Proc]]:
    """A box with 30 sales, enrolled with a running cloud and fully synced."""
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    make_sales(box, 30)
    cloud = start_cloud(cloud_state)
    try:
        enrol(box, cloud_state, cloud.url)
        done = run_cli("sync", "--once", "--state", str(box))
        assert done.returncode == 0, done.stderr
        assert state_of(box).acked_seq == 30
        yield box, cloud_state, cloud
    finally:
        cloud.stop()


def state_of(box: Path) -> syncstate.SyncState:
    conn = open_sync(box / DB_NAME, readonly=True)
    try:
        return syncstate.read_state(conn)
    finally:
        conn.close()


def rewrite_log(cloud_state: Path, index: int) -> None:
    """Play a dishonest cloud: swap one leaf and rebuild every stored subtree consistently."""
    conn = sqlite3.connect(cloud_state / CLOUD_DB)
    with conn:
        lines = [row[0] for row in conn.execute("SELECT line FROM receipts ORDER BY log_index")]
        lines[index] = lines[index].replace(";sale;", ";void;")
        frontier = Frontier()
        conn.execute("DELETE FROM subtrees")
        for line in lines:
            for subtree in frontier.append(leaf_hash(line.encode())):
                conn.execute(
                    "INSERT INTO subtrees (level, idx, hash) VALUES (?, ?, ?)",
                    (subtree.level, subtree.index, subtree.hash),
                )
    conn.close()


def test_a_rewritten_log_is_caught_and_a_new_epoch_announced(
    synced: tuple[Path, Path, Proc],
) -> None:
    """The box's consistency check fails; shown the box's checkpoint, the cloud sees another
    root at its size, freezes that epoch and begins the next; the box records the incident and
    proves everything it sends again in the new epoch (issue 22: never silently)."""
    box, cloud_state, cloud = synced
    origin = json.loads((box / "cloud.json").read_text())["origin"]
    cloud.stop()
    rewrite_log(cloud_state, 5)
    cloud = start_cloud(cloud_state, int(cloud.url.rsplit(":", 1)[1]))
    make_sales(box, 10)
    try:
        done = run_cli("sync", "--once", "--state", str(box))
        epochs = httpx.get(cloud.url + "/v1/log/epochs", timeout=10).json()
    finally:
        cloud.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    state = state_of(box)
    assert state.stopped is None and state.acked_seq == 40
    assert state.incident is not None and "another root" in state.incident, state
    account = json.loads((box / "cloud.json").read_text())
    assert account["origin"] == f"{origin}/e2" and account["epoch"] == 2
    assert epochs["origin"] == f"{origin}/e2" and epochs["epochs"][1]["reason"] in state.incident
    verified = run_cli("ledger", "verify", "--state", str(box))
    assert verified.returncode == 0 and "41 receipts" in verified.stdout
    audit = run_cli("cloud", "verify", "--state", str(cloud_state))
    assert audit.returncode == 1 and "subtree" in audit.stdout  # the rewrite is still there


def test_a_cloud_that_lost_receipts_stops_the_stream(synced: tuple[Path, Path, Proc]) -> None:
    box, cloud_state, cloud = synced
    cloud.stop()
    conn = sqlite3.connect(cloud_state / CLOUD_DB)  # restored from an old backup, say
    with conn:
        conn.execute("DELETE FROM receipts WHERE seq > 20")
        last = conn.execute("SELECT line FROM receipts WHERE seq = 20").fetchone()[0]
        conn.execute("UPDATE devices SET head_seq = 20, head_hash = ?", (line_hash(last),))
    conn.close()
    cloud = start_cloud(cloud_state, int(cloud.url.rsplit(":", 1)[1]))
    make_sales(box, 5)
    try:
        done = run_cli("sync", "--once", "--state", str(box))
        assert done.returncode == 1
        state = state_of(box)
        assert state.stopped is not None and "gap" in state.stopped
        assert state.cloud_seq == 20 and state.acked_seq == 30
        # The node shows the stop to the console; nothing local was deleted or rewritten.
        node = start_node(box)
        try:
            token = node.pair()
            with node.client(token) as api:
                shown = api.get("/api/sync").json()
            assert shown["stopped"] == state.stopped and shown["outbox_depth"] == 5
        finally:
            node.stop()
        assert "36 receipts" in run_cli("ledger", "verify", "--state", str(box)).stdout
        resumed = run_cli("sync", "--resume", "--state", str(box))
        assert resumed.returncode == 0 and "resumed" in resumed.stdout
        assert state_of(box).stopped is None
    finally:
        cloud.stop()
