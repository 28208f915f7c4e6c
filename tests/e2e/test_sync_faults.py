"""Issue #6's fault run: 10,000 receipts reach the cloud exactly once while everything breaks.

Real processes throughout: `stallbox cloud` and `stallbox sync`, each SIGKILLed at least 20
times at random moments during the transfer, and a TCP proxy between them that cuts connections
mid-batch. Afterwards the cloud's chain for the device equals the device's (count and last hash),
the log holds each receipt once, and the daemon's acked_seq equals the cloud's head.

Each restart after a kill is forked from tests/powercut's fork server (forkserver.py says why a
forked child is as fresh as an exec'd one): a cloud is listening again in a fraction of a
second instead of the 2-3 s Python takes to import it, so the forty kills no longer spend most
of the test waiting for imports. POWERCUT_FORK=0 execs every process instead.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest
from forkserver import ForkServer
from launch import forks, spawn
from nodeproc import run_cli
from pgserver import new_database, pg_server
from syncproc import FlakyProxy, Proc, cloud_head, enrol, free_port, make_sales, wait_ready

from appliance.ledger.receipt import b64, line_hash
from appliance.services.cloud_account import load_account, save_account
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from appliance.store.ledger import get_receipt
from sync.checkpoint import parse_checkpoint

RECEIPTS = 10_000
KILLS = 20
__all__ = ["forks", "pg_server"]  # fixtures (the fork server, PostgreSQL), found by name


def start_cloud(forks: ForkServer | None, state: Path, port: int, *extra: str) -> Proc:
    """`stallbox cloud serve` on 127.0.0.1:`port` with its state in `state`, listening."""
    args = ["serve", "--state", str(state), "--host", "127.0.0.1", "--port", str(port), *extra]
    return wait_ready(spawn(forks, "cloud", *args), "cloud")


def acked(state: Path) -> int:
    conn = open_sync(state / DB_NAME, readonly=True)
    try:
        return syncstate.read_state(conn).acked_seq
    finally:
        conn.close()


def slow_uplink(state: Path, bytes_per_s: int) -> None:
    """Cap the daemon's upload at `bytes_per_s` (0: no cap) from its next start."""
    config = state / "stallbox.toml"
    text = config.read_text()
    found = re.search(r"^max_upload_bytes_per_s = \d+", text, re.M)
    assert found is not None, text
    config.write_text(text.replace(found[0], f"max_upload_bytes_per_s = {bytes_per_s}"))


@pytest.mark.slow
@pytest.mark.serial  # kills on a timer: progress between kills needs the CPU
@pytest.mark.timeout(600)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_ten_thousand_receipts_survive_kills_and_cuts(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, forks: ForkServer | None
) -> None:
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    extra = (
        ()
        if store == "sqlite"
        else ("--postgres", new_database(request.getfixturevalue("pg_server")))
    )
    head_seq = make_sales(box, RECEIPTS)
    assert head_seq == RECEIPTS
    slow_uplink(box, 60_000)  # ~2.5 MB of receipts: the transfer takes long enough to break it
    port = free_port()
    cloud = start_cloud(forks, cloud_state, port, *extra)
    try:
        enrol(box, cloud_state, cloud.url, *extra)
        proxy = FlakyProxy(port, cut_probability=0.01, seed=6)
        account = load_account(box)
        save_account(box, msgspec.structs.replace(account, url=f"http://127.0.0.1:{proxy.port}"))

        rng = random.Random(6)
        daemon = spawn(forks, "sync", "--state", str(box))
        daemon_kills = cloud_kills = 0
        acked_at_kills: list[int] = []
        deadline = time.monotonic() + 300
        try:
            while (daemon_kills < KILLS or cloud_kills < KILLS) and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.1, 0.6))
                acked_at_kills.append(acked(box))
                if cloud_kills >= KILLS or (daemon_kills < KILLS and rng.random() < 0.5):
                    daemon.kill()
                    daemon_kills += 1
                    daemon = spawn(forks, "sync", "--state", str(box))
                else:
                    cloud.kill()
                    cloud_kills += 1
                    cloud = start_cloud(forks, cloud_state, port, *extra)
                if rng.random() < 0.3:
                    proxy.cut_all()
            assert daemon_kills >= KILLS and cloud_kills >= KILLS
            # The kills fell during the transfer, not after it.
            assert acked_at_kills[-1] < RECEIPTS, acked_at_kills
            assert acked_at_kills[0] < acked_at_kills[-1], (
                f"nothing moved between the kills:\n{daemon.text()[-2000:]}\n{cloud.text()[-2000:]}"
            )
            # The cap only made the transfer last through the kills; the rest (the proxy still
            # cutting) goes at full speed, after one more kill to restart the daemon uncapped.
            slow_uplink(box, 0)
            daemon.kill()
            daemon = spawn(forks, "sync", "--state", str(box))
            _wait_for(lambda: acked(box) == RECEIPTS, 180, daemon)
        finally:
            daemon.stop()
            proxy.close()

        head = cloud_head(box, cloud.url)
        conn = open_sync(box / DB_NAME, readonly=True)
        try:
            last = get_receipt(conn, RECEIPTS)
            assert last is not None
            state = syncstate.read_state(conn)
        finally:
            conn.close()
        assert head.seq == RECEIPTS == state.acked_seq
        assert head.hash == b64(line_hash(last.line))
        # One leaf per receipt: no duplicates in the log (start receipt + sales).
        checkpoint = httpx.get(f"{cloud.url}/v1/checkpoint", timeout=10).text
        assert parse_checkpoint(checkpoint.split("\n\n")[0] + "\n").size == RECEIPTS + 1
        assert state.stopped is None and proxy.cuts > 0
        assert run_cli("ledger", "verify", "--state", str(box)).returncode == 0
        assert cloud.stop() == 0
    finally:
        cloud.kill()  # whatever failed, no cloud process outlives the test


def _wait_for(condition: Callable[[], bool], seconds: float, daemon: Proc) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not done in {seconds} s; daemon said:\n{daemon.text()[-3000:]}")
