"""A cloud restored from a backup behind its boxes: detected, frozen, a new epoch (issue 22).

Three boxes sync; the cloud is backed up the documented way (SQLite: the online backup API, as
`sqlite3 cloud.db ".backup FILE"`; PostgreSQL: pg_dump, then pg_restore into a fresh database);
each box then syncs $STALLBOX_ROLLBACK_BEHIND more receipts (1,000 by default, the acceptance
figure); the cloud is restored from the backup and started again on the same address. Each box
shows the cloud the checkpoint it holds, the cloud begins epoch 2, and every box ends with all
its receipts in the new epoch's log, its proofs verified (the daemon moves acked_seq only on
them), the incident visible on the box and at the cloud, and nothing lost.
"""

from __future__ import annotations

import glob
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
from nodeproc import run_cli
from pgserver import new_database, pg_server
from syncproc import Proc, cloud_head, enrol, make_sales, start_cloud

from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from sync.checkpoint import parse_verifier_key, verify_checkpoint

__all__ = ["pg_server"]  # a fixture, used by name

BEHIND = int(os.environ.get("STALLBOX_ROLLBACK_BEHIND", "1000"))
BEFORE = 20
BOXES = 3


def state_of(box: Path) -> syncstate.SyncState:
    conn = open_sync(box / DB_NAME, readonly=True)
    try:
        return syncstate.read_state(conn)
    finally:
        conn.close()


def pg_tool(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, name
    return found[-1]


class Store:
    """The cloud's store, its extra CLI arguments, and how to back it up and restore it."""

    def __init__(self, kind: str, state: Path, dsn: str) -> None:
        self.kind, self.state, self.dsn = kind, state, dsn
        self.extra = ("--postgres", dsn) if kind == "postgres" else ()
        self.backup_file = state.parent / "backup"

    def backup(self) -> None:
        if self.kind == "sqlite":  # online, while the cloud runs: what `.backup` does
            src = sqlite3.connect(self.state / "cloud.db")
            dst = sqlite3.connect(self.backup_file)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
            return
        subprocess.run(
            [pg_tool("pg_dump"), "-Fc", "-f", str(self.backup_file), "-d", self.dsn], check=True
        )

    def restore(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                (self.state / f"cloud.db{suffix}").unlink(missing_ok=True)
            self.backup_file.rename(self.state / "cloud.db")
            return
        server, _, name = self.dsn.rpartition(" dbname=")
        import psycopg

        with psycopg.connect(server + " dbname=postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name}")
            conn.execute(f"CREATE DATABASE {name}")
        subprocess.run([pg_tool("pg_restore"), "-d", self.dsn, str(self.backup_file)], check=True)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    dsn = ""
    if request.param == "postgres":
        dsn = new_database(request.getfixturevalue("pg_server"))
    return Store(request.param, tmp_path / "cloud", dsn)


def sync_all(boxes: list[Path]) -> None:
    for box in boxes:
        done = run_cli("sync", "--once", "--state", str(box))
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_cloud_restored_behind_three_boxes_begins_a_new_epoch(
    store: Store, tmp_path: Path
) -> None:
    boxes = [tmp_path / f"box{i}" for i in range(BOXES)]
    cloud: Proc = start_cloud(store.state, 0, *store.extra)
    port = int(cloud.url.rsplit(":", 1)[1])
    try:
        first_origin = httpx.get(cloud.url + "/v1/log", timeout=10).json()["origin"]
        for box in boxes:
            make_sales(box, BEFORE)
            enrol(box, store.state, cloud.url, *store.extra)
        sync_all(boxes)
        store.backup()
        for box in boxes:
            make_sales(box, BEHIND)
        sync_all(boxes)
        last = dict.fromkeys(boxes, BEFORE + BEHIND)  # the start receipt is seq 0
        held = {box: state_of(box).checkpoint for box in boxes}
        assert all(state_of(box).acked_seq == last[box] for box in boxes)
    finally:
        assert cloud.stop() == 0

    store.restore()
    marker = store.state / "log.head"  # the cloud's own note of the last checkpoint it signed
    assert marker.exists()
    if store.kind == "sqlite":  # as if the state dir came back from the backup too: only the
        marker.unlink()  # boxes' checkpoints can tell (with PostgreSQL the marker tells at start)
    cloud = start_cloud(store.state, port, *store.extra)
    try:
        assert cloud_head(boxes[0], cloud.url).seq == BEFORE  # the restored cloud forgot
        began_at_start = httpx.get(cloud.url + "/v1/log/epochs", timeout=10).json()["epoch"]
        assert began_at_start == (2 if store.kind == "postgres" else 1)
        sync_all(boxes)
        epochs = httpx.get(cloud.url + "/v1/log/epochs", timeout=10).json()
        log = httpx.get(cloud.url + "/v1/log", timeout=10).json()
        heads = {box: cloud_head(box, cloud.url).seq for box in boxes}
    finally:
        assert cloud.stop() == 0

    new_origin = f"{first_origin}/e2"
    assert epochs["epoch"] == 2 and epochs["origin"] == new_origin == log["origin"]
    began = epochs["epochs"][1]
    assert began["size_at_start"] == BOXES * (BEFORE + 1) and "beyond" in began["reason"]
    verifier = parse_verifier_key(log["verifier_key"])
    notes = []
    for box in boxes:
        state = state_of(box)
        assert heads[box] == last[box] and state.acked_seq == last[box], (box, state)
        assert state.stopped is None and state.incident is not None
        assert "rolled back" in state.incident and new_origin in state.incident
        account = json.loads((box / "cloud.json").read_text())
        assert account["origin"] == new_origin and account["epoch"] == 2
        assert state.checkpoint is not None and state.checkpoint != held[box]
        verify_checkpoint(state.checkpoint, verifier, origin=new_origin)  # the new epoch's
        note = tmp_path / f"{box.name}.checkpoint"
        note.write_text(state.checkpoint)
        notes += ["--checkpoint", str(note)]
        ledger = run_cli("ledger", "verify", "--state", str(box))
        assert ledger.returncode == 0, ledger.stdout + ledger.stderr

    audit = run_cli("cloud", "verify", "--state", str(store.state), *store.extra, *notes)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    total = BOXES * (BEFORE + BEHIND + 1)
    assert f"{BOXES} devices, {total} receipts" in audit.stdout, audit.stdout
    listed = run_cli("cloud", "devices", "--state", str(store.state), *store.extra)
    assert listed.returncode == 0 and "epoch 2" in listed.stdout and "rolled back" in listed.stdout
