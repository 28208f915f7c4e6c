"""Funnel counts reach the cloud after the receipts, never before, and never block them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from nodeproc import run_cli, start_node
from syncproc import enrol, start_cloud

from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from sync.cloud.sqlite_store import DB_NAME as CLOUD_DB


def cloud_funnel(cloud_state: Path) -> list[tuple[int, int, int, int]]:
    conn = sqlite3.connect(cloud_state / CLOUD_DB)
    try:
        return conn.execute("SELECT menu, cart, ordered, paid FROM funnel").fetchall()
    finally:
        conn.close()


def test_funnel_minutes_follow_the_receipts(tmp_path: Path) -> None:
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    node = start_node(box)
    try:
        token = node.pair()
        with node.phone() as phone, node.client(token) as api:
            phone.get("/")
            phone.get("/")
            placed = phone.post("/order", data={"pastel": "1", "tender": "cash", "note": ""})
            assert placed.status_code == 303
            order_id = placed.headers["location"].split("/")[2]
            assert api.post(f"/api/orders/{order_id}/confirm", json={}).json()["accepted"]
    finally:
        assert node.stop() == 0  # a clean stop folds the last partial minute into the table
    cloud = start_cloud(cloud_state)
    try:
        enrol(box, cloud_state, cloud.url)
        conn = open_sync(box / DB_NAME)
        try:  # a stopped stream: receipts wait for the operator, and so does the funnel
            syncstate.record_stop(conn, "test: the operator must look", None, datetime.now(UTC))
            assert run_cli("sync", "--once", "--state", str(box)).returncode == 1
            assert cloud_funnel(cloud_state) == []
            syncstate.clear_stop(conn, datetime.now(UTC))
        finally:
            conn.close()
        done = run_cli("sync", "--once", "--state", str(box))
        assert done.returncode == 0, done.stderr
        assert "acked seq 1, funnel minutes 1" in done.stdout
        assert cloud_funnel(cloud_state) == [(2, 0, 1, 1)]
        again = run_cli("sync", "--once", "--state", str(box))  # the last minute again: replaced
        assert again.returncode == 0 and cloud_funnel(cloud_state) == [(2, 0, 1, 1)]
    finally:
        cloud.stop()
