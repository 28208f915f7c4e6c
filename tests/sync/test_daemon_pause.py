"""A drop's rush holds uploads on purpose: the daemon says so in sync_state (why, until when)
and takes it back when the rush ends, so /api/sync and the console can tell the vendor."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.services.box import init_state
from appliance.services.cloud_account import CloudAccount
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from sync.backoff import Retry
from sync.checkpoint import verifier_key
from sync.daemon import Daemon, Limits, Outcome, status_line

T0 = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
ORIGIN = "stallbox.cloud/pause-test"


def offline(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)  # the cloud is busy: the daemon retries later


def test_the_daemon_records_a_rush_pause_and_clears_it(tmp_path: Path) -> None:
    init_state(tmp_path, "BRL", T0)
    conn = open_sync(tmp_path / DB_NAME)
    conn.execute(
        "INSERT INTO drops (sku, name, price, currency, quantity, starts_at, per_attendee,"
        " hold_s, created_at, taken) VALUES ('tee', 'Tee', 100, 'BRL', 5, ?, 1, 60, ?, 0)",
        (T0.isoformat(), T0.isoformat()),
    )
    key = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    account = CloudAccount("https://cloud", "dev-1", "token", ORIGIN, key)
    now = [T0 + timedelta(seconds=30)]

    async def steps() -> list[Outcome | str]:
        outcomes: list[Outcome | str] = []
        client = httpx.AsyncClient(transport=httpx.MockTransport(offline))
        daemon = Daemon(conn, account, client, Limits(rush=timedelta(seconds=120)),
                        clock=lambda: now[0])  # fmt: skip
        try:
            outcomes.append(await daemon.step())
            state = syncstate.read_state(conn)
            assert (state.paused, state.paused_until) == ("drop", "2026-11-28T18:02:00+00:00")
            assert syncstate.active_pause(state, now[0]) == ("drop", state.paused_until)
            assert "paused for the drop until 2026-11-28T18:02:00+00:00" in status_line(
                conn, now[0]
            )
            conn.execute("UPDATE drops SET taken = quantity")  # sold out: the rush is over
            with pytest.raises(Retry):
                await daemon.step()
            outcomes.append("sent")
        finally:
            await client.aclose()
        return outcomes

    try:
        assert asyncio.run(steps()) == [Outcome.PAUSED, "sent"]
        state = syncstate.read_state(conn)
        assert (state.paused, state.paused_until) == (None, None)
        assert "paused" not in status_line(conn, T0 + timedelta(seconds=30))
    finally:
        conn.close()


def test_a_pause_left_by_a_stopped_daemon_ends_with_its_time(tmp_path: Path) -> None:
    init_state(tmp_path, "BRL", T0)
    conn = open_sync(tmp_path / DB_NAME)
    try:
        syncstate.record_pause(conn, "drop", T0 + timedelta(minutes=2), T0)
        state = syncstate.read_state(conn)
        assert syncstate.active_pause(state, T0 + timedelta(minutes=1)) is not None
        assert syncstate.active_pause(state, T0 + timedelta(minutes=2)) is None
    finally:
        conn.close()
