"""The daemon's small parts: backoff, Retry-After, the outbox reader, the link watcher."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from appliance.services.box import init_state
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from sync.backoff import Backoff, retry_after

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def test_backoff_is_full_jitter_capped_and_resets() -> None:
    backoff = Backoff(1.0, 300.0, random.Random(3))
    delays = [backoff.next_delay() for _ in range(12)]
    for n, delay in enumerate(delays):
        assert 0 <= delay <= min(300.0, 2.0**n)
    assert max(delays[8:]) > 30  # it does grow
    assert len(set(delays)) == len(delays)  # and it is jittered
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_backoff_never_retries_before_the_cloud_said() -> None:
    backoff = Backoff(1.0, 300.0, random.Random(3))
    assert backoff.next_delay(retry_after=42) >= 42
    assert backoff.next_delay(retry_after=10_000) == 300  # but the cap still holds


def test_retry_after_reads_delta_seconds_only() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": value})

    assert retry_after(answer("7")) == 7
    assert retry_after(answer("Fri, 27 Nov 2026 10:00:00 GMT")) is None
    assert retry_after(httpx.Response(503)) is None


def test_pending_reads_in_order_within_the_byte_budget(tmp_path: Path) -> None:
    init_state(tmp_path, "BRL", T0)
    conn = open_sync(tmp_path / DB_NAME)
    try:
        batch = syncstate.pending(conn, -1, 500, 10)
        assert [p.seq for p in batch] == [0]  # one receipt always goes, however small the budget
        assert syncstate.pending(conn, 0, 500, 10) == []
        syncstate.record_ack(conn, 0, "note", 1, "cloud", T0)
        syncstate.record_ack(conn, -1, "older", 0, "cloud", T0)
        assert syncstate.read_state(conn).acked_seq == 0  # never backwards
        syncstate.record_stop(conn, "the cloud refused seq 1 (fork)", 3, T0)
        state = syncstate.read_state(conn)
        assert state.stopped and state.cloud_seq == 3
        syncstate.clear_stop(conn, T0)
        assert syncstate.read_state(conn).stopped is None
    finally:
        conn.close()


def test_rush_is_a_started_drop_with_units_left(tmp_path: Path) -> None:
    init_state(tmp_path, "BRL", T0)
    conn = open_sync(tmp_path / DB_NAME)
    try:
        conn.execute(
            "INSERT INTO drops (sku, name, price, currency, quantity, starts_at, per_attendee,"
            " hold_s, created_at, taken) VALUES ('tee', 'Tee', 100, 'BRL', 5, ?, 1, 60, ?, 0)",
            (T0.isoformat(), T0.isoformat()),
        )
        window = timedelta(seconds=120)
        assert not syncstate.in_rush(conn, T0 - timedelta(seconds=1), window)
        assert syncstate.in_rush(conn, T0 + timedelta(seconds=60), window)
        assert not syncstate.in_rush(conn, T0 + timedelta(seconds=121), window)
        conn.execute("UPDATE drops SET taken = quantity")
        assert not syncstate.in_rush(conn, T0 + timedelta(seconds=60), window)  # sold out
    finally:
        conn.close()


@pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true", reason="needs root for unshare -n"
)
def test_link_watcher_fires_on_a_link_change_in_its_namespace() -> None:
    """In a private network namespace, bringing up an interface wakes the watcher."""
    assert shutil.which("unshare") and shutil.which("ip")
    script = textwrap.dedent(
        """
        import asyncio, subprocess
        from sync.link import LinkWatcher

        async def main():
            watcher = LinkWatcher()
            watcher.start()
            await asyncio.sleep(0.1)
            assert not watcher.changed.is_set()
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            await asyncio.wait_for(watcher.changed.wait(), 5)
            watcher.close()
            print("woke")

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script], capture_output=True, text=True,
        cwd=REPO, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "woke", done.stderr
