"""docs/operations.md's "Sync stopped: gap" runbook on real processes.

The cloud is restored from a backup taken before it acknowledged some of this box's receipts.
The box's next sync finds the cloud behind its acknowledged seq and shows it its last signed
checkpoint: the cloud freezes the rolled-back log, starts a new log epoch, and the box sends the
rest again by itself — nothing lost, nothing doubled, no command needed. `stallbox restore
--from-cloud` afterwards finds the box and the cloud in step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nodeproc import run_cli
from syncproc import cloud_head, enrol, make_sales, start_cloud

from appliance.services.cloud_account import load_account


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
        if code != 0:  # stopped at the gap before the cloud moved to its new epoch: once more
            code, said = sync_once(box)
        assert code == 0, said
        assert cloud_head(box).seq == 11
        assert load_account(box).epoch == 2, "the rolled-back log was frozen and a new epoch begun"
        mended = run_cli("restore", "--from-cloud", "--state", str(box))
        assert mended.returncode == 0, mended.stderr
        assert run_cli("ledger", "verify", "--state", str(box)).returncode == 0
    finally:
        cloud.stop()
