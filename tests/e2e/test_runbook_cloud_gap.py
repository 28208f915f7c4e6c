"""docs/operations.md's "Sync stopped: gap" runbook on real processes (issue 22).

The cloud is restored from a backup taken before it acknowledged some of this box's receipts;
the box's next batch leaves a gap and sync stops. `stallbox restore --from-cloud` checks the
cloud's head is on the box's own chain, moves acked_seq back to it, and sync sends the rest
again: nothing lost, nothing doubled. (A log shared by several boxes also needs the cloud's own
recovery of its log: that is the cloud's side of issue 22.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nodeproc import run_cli
from syncproc import cloud_head, enrol, make_sales, start_cloud


def sync_once(box: Path) -> tuple[int, str]:
    done = run_cli("sync", "--once", "--state", str(box))
    return done.returncode, done.stdout + done.stderr


def test_a_cloud_restored_from_an_older_backup_gets_the_rest_again(tmp_path: Path) -> None:
    box, cloud_state, backup = tmp_path / "box", tmp_path / "cloud", tmp_path / "backup"
    make_sales(box, 5)
    cloud = start_cloud(cloud_state)
    port = cloud.url.rsplit(":", 1)[1]
    try:
        enrol(box, cloud_state, cloud.url)
        assert sync_once(box)[0] == 0
        assert cloud.stop() == 0
        shutil.copytree(cloud_state, backup)  # the cloud's backup, at seq 5
        cloud = start_cloud(cloud_state, int(port))
        make_sales(box, 5)
        assert sync_once(box)[0] == 0 and cloud_head(box).seq == 10
        assert cloud.stop() == 0
        shutil.rmtree(cloud_state)
        shutil.copytree(backup, cloud_state)  # restored: it lost seq 6-10
        cloud = start_cloud(cloud_state, int(port))
        make_sales(box, 1)
        code, said = sync_once(box)
        assert code != 0 and "gap" in said  # stopped, nothing dropped
        mended = run_cli("restore", "--from-cloud", "--state", str(box))
        assert mended.returncode == 0, mended.stderr
        assert "the cloud holds up to seq 5: sync sends the 6 after it again" in mended.stdout
        code, said = sync_once(box)
        assert code == 0, said
        assert cloud_head(box).seq == 11
        assert run_cli("ledger", "verify", "--state", str(box)).returncode == 0
    finally:
        cloud.stop()
