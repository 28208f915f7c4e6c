"""Pilot test against a real node and the real daemon's step: while a drop's rush holds uploads,
the status bar and F5 say the sync is paused for the drop until when, and that it resumes by
itself; once the drop sells out the daemon sends again and the words go away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from console_support import node_api, shown, until, until_shown
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess

from appliance.services.cloud_account import CloudAccount
from appliance.store.connection import DB_NAME, open_sync
from sync.backoff import Retry
from sync.checkpoint import verifier_key
from sync.daemon import Daemon, Limits, Outcome
from tui.app import StallboxConsole
from tui.screens.sync import SyncScreen

pytestmark = pytest.mark.anyio
ORIGIN = "stallbox.cloud/pause-test"
RUSH = timedelta(seconds=120)  # the daemon's default [sync] rush


def busy_cloud(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)  # not reached while paused; after, the daemon just retries


async def test_the_console_says_the_sync_is_paused_for_the_drop_and_when_it_resumes(
    stall: NodeProcess, app: StallboxConsole, tmp_path: Path
) -> None:
    with node_api(stall, tmp_path / "console.json") as api:
        starts = datetime.now(UTC).replace(microsecond=0)
        made = api.post(
            "/api/drops", json={"sku": "coffee", "quantity": 1, "starts_at": starts.isoformat()}
        )
        assert made.status_code == 201, made.text
        drop_id = made.json()["id"]
    key = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
    account = CloudAccount("https://cloud", "dev-1", "token", ORIGIN, key)
    conn = open_sync(stall.state / DB_NAME)
    client = httpx.AsyncClient(transport=httpx.MockTransport(busy_cloud))
    daemon = Daemon(conn, account, client, Limits(rush=RUSH))
    try:
        assert await daemon.step() is Outcome.PAUSED  # the daemon's loop, one round
        until_hhmm = f"{(starts + RUSH).astimezone():%H:%M}"  # the node's zone: the box's own
        words = f"paused for the drop until {until_hhmm} (resumes by itself)"
        async with app.run_test(size=(80, 24)) as pilot:
            await until_shown(pilot, f"⏸ {words}")  # the status bar, on every screen
            await pilot.press("f5")
            await until(pilot, lambda: isinstance(app.screen, SyncScreen), "the sync screen")
            await until_shown(pilot, f"Sync {words}")
            assert "outbox" in shown(app)

            with stall.phone() as phone:  # the one unit goes: the drop sold out, the rush ends
                claimed = phone.post(f"/d/{drop_id}/claim", data={"qty": "1", "tender": "cash"})
            assert claimed.status_code == 303, claimed.text
            with pytest.raises(Retry):
                await daemon.step()  # it sends again (the cloud is busy here: it will retry)
            await until(pilot, lambda: "paused" not in shown(app), "the pause words to go")
    finally:
        await client.aclose()
        conn.close()
