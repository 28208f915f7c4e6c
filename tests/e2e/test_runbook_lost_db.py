"""docs/operations.md's lost-database runbook on real processes (issue 22).

The box lost stallbox.db but kept its key and cloud.json: `stallbox init` refuses to start a
second chain under the same device id, `stallbox restore --from-cloud` rebuilds the ledger from
the cloud's copy (verified line by line), `stallbox ledger verify` accepts it, and the next sale
is the next seq, which sync delivers to the cloud.
"""

from __future__ import annotations

from pathlib import Path

from nodeproc import run_cli, start_node
from syncproc import cloud_head, enrol, make_sales, start_cloud

SALES = 40


def lose_the_database(state: Path) -> None:
    for name in ("stallbox.db", "stallbox.db-wal", "stallbox.db-shm"):
        (state / name).unlink(missing_ok=True)


def test_lost_db_is_restored_from_the_cloud_and_sync_continues(tmp_path: Path) -> None:
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    head = make_sales(box, SALES)
    cloud = start_cloud(cloud_state)
    try:
        enrol(box, cloud_state, cloud.url)
        sent = run_cli("sync", "--once", "--state", str(box))
        assert sent.returncode == 0, sent.stderr
        assert cloud_head(box).seq == head == SALES
        lose_the_database(box)
        refused = run_cli("init", "--state", str(box))
        assert refused.returncode != 0 and "restore --from-cloud" in refused.stderr
        assert not (box / "stallbox.db").exists()  # nothing written by the refusal
        restored = run_cli("restore", "--from-cloud", "--state", str(box))
        assert restored.returncode == 0, restored.stderr
        assert f"restored {SALES + 1} receipts" in restored.stdout
        assert f"the next receipt is seq {SALES + 1}" in restored.stdout
        again = run_cli("restore", "--from-cloud", "--state", str(box))
        assert again.returncode == 0 and f"in step with the cloud at seq {SALES}" in again.stdout
        verified = run_cli("ledger", "verify", "--state", str(box))
        assert verified.returncode == 0, verified.stderr
        assert f"up to seq {SALES}" in verified.stdout
        node = start_node(box)
        try:
            with node.client(node.pair()) as api:
                order = api.post("/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]})
                order_id = order.json()["id"]
                api.post(f"/api/orders/{order_id}/tender", json={"tender": "cash"})
                sold = api.post(f"/api/orders/{order_id}/confirm", json={})
                assert sold.json()["receipt"]["seq"] == SALES + 1
        finally:
            assert node.stop() == 0
        resumed = run_cli("sync", "--once", "--state", str(box))
        assert resumed.returncode == 0, resumed.stderr
        assert cloud_head(box).seq == SALES + 1
        assert run_cli("ledger", "verify", "--state", str(box)).returncode == 0
    finally:
        cloud.stop()
