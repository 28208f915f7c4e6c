"""The cloud operator's admin (issue 22): quarantine, never-used devices, last contact, log lines.

On both stores through the real app: a refused batch writes one `event=batch_refused` line and
one `event=quarantined` line; a device's last contact is what it last did with its token. Then
the commands, as real processes: list and clear quarantine, delete a device only if it never
sent a receipt, `devices` showing the last contact.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import httpx
import pytest
from cloudfix import CloudClient, StoreOpener, make_chain, open_store
from nodeproc import run_cli
from pgserver import pg_server
from syncproc import start_cloud

from appliance.cli import main
from appliance.ledger.identity import public_key_text
from appliance.ledger.wire import encode
from sync.cloud.sqlite_store import DB_NAME as CLOUD_DB

__all__ = ["open_store", "pg_server"]  # fixtures, used by name


def test_refusals_log_one_line_each_and_contacts_are_kept(
    open_store: StoreOpener, caplog: pytest.LogCaptureFixture
) -> None:
    used, idle = make_chain(12), make_chain(1)

    async def scenario() -> None:
        client = CloudClient(await open_store())
        try:
            token = await client.enrol(used, "used")
            await client.enrol(idle, "idle")
            assert (await client.post(used, token, used.batch(0, 5))).status_code == 200
            with caplog.at_level(logging.INFO):
                gap = await client.post(used, token, used.batch(8, 11))
            assert gap.status_code == 409
            events = [r.getMessage() for r in caplog.records if r.name.startswith("sync.")]
            assert len(events) == 2, events
            assert events[0].startswith("event=quarantined ") and "reason=gap" in events[0]
            assert f"device={used.device}" in events[0] and "seq=6" in events[0]
            assert events[1].startswith("event=batch_refused status=409 ") and "head=5" in events[1]
            reports = {r.device: r for r in await client.cloud.reports()}
            assert reports[used.device].last_contact is not None
            assert reports[idle.device].last_contact is None  # enrolled, never heard from
            assert reports[used.device].head.quarantined == 1
            assert await client.store.clear_quarantine(used.device) == 1
            assert (await client.store.device(used.device)).quarantined == 0  # type: ignore[union-attr]
            assert await client.store.delete_device(used.device) is False  # it has receipts
            assert await client.store.delete_device(idle.device) is True
            assert await client.store.device(idle.device) is None
            assert await client.store.delete_device(idle.device) is None
        finally:
            await client.close()

    asyncio.run(scenario())


def test_admin_commands(tmp_path: Path) -> None:
    used, idle = make_chain(6), make_chain(1)
    state = tmp_path / "cloud"
    cloud = start_cloud(state)
    try:
        with httpx.Client(base_url=cloud.url, timeout=10) as http:
            tokens = []
            for chain in (used, idle):
                token = run_cli("cloud", "enrol-token", "--state", str(state)).stdout.strip()
                tokens.append(
                    http.post(
                        "/v1/enrol",
                        json={"token": token, "public_key": public_key_text(chain.key.public)},
                    ).json()["api_token"]
                )
            auth = {"Authorization": f"Bearer {tokens[0]}"}
            url = f"/v1/devices/{used.device}/receipts"
            assert http.post(url, content=encode(used.batch(0, 2)), headers=auth).status_code == 200
            assert http.post(url, content=encode(used.batch(4, 5)), headers=auth).status_code == 409
    finally:
        assert cloud.stop() == 0
    said = cloud.text()
    assert "event=quarantined" in said and "event=batch_refused" in said and "Traceback" not in said

    listed = run_cli("cloud", "devices", "--state", str(state))
    assert "LAST CONTACT" in listed.stdout and "never" in listed.stdout, listed.stdout
    quarantined = run_cli("cloud", "quarantine", "--state", str(state))
    assert quarantined.returncode == 0 and f"{used.device}  gap  seq 3" in quarantined.stdout
    assert "1 quarantined batch(es)" in quarantined.stdout
    cleared = run_cli("cloud", "clear-quarantine", used.device, "--yes", "--state", str(state))
    assert cleared.returncode == 0 and "1 quarantine row(s) cleared" in cleared.stdout
    assert "event=quarantine_cleared" in cleared.stderr
    assert "0 quarantined" in run_cli("cloud", "quarantine", "--state", str(state)).stdout
    refused = run_cli("cloud", "delete-device", used.device, "--yes", "--state", str(state))
    assert refused.returncode == 1 and "has receipts" in refused.stderr
    password = tmp_path / "pw"
    password.write_text("a long creator password\n")
    creator = ["--state", str(state), "--password-file", str(password)]
    assert main(["cloud", "creator", "add", "ana", *creator]) == 0
    assert main(["cloud", "creator", "assign", "ana", "--event", "fair", "--device", idle.device,
                 "--state", str(state)]) == 0  # fmt: skip
    conn = sqlite3.connect(state / CLOUD_DB)
    try:  # a canary decision the box synced (as POST /v1/devices/{device}/flag-decisions stores)
        with conn:
            conn.execute(
                "INSERT INTO edge_decisions VALUES (?, 'b', 'f', 'v', 'at', 'off', 'r', '{}')",
                (idle.device,),
            )
    finally:
        conn.close()
    deleted = run_cli("cloud", "delete-device", idle.device, "--yes", "--state", str(state))
    assert deleted.returncode == 0 and "event=device_deleted" in deleted.stderr
    assert "with 2 row(s) of its event assignment and edge decisions" in deleted.stdout
    conn = sqlite3.connect(state / CLOUD_DB)
    try:  # its creator rows went with it (issue 20)
        for table in ("creator_devices", "edge_decisions"):
            sql = f"SELECT count(*) FROM {table} WHERE device = ?"
            assert conn.execute(sql, (idle.device,)).fetchone() == (0,)
    finally:
        conn.close()
    assert idle.device not in run_cli("cloud", "devices", "--state", str(state)).stdout
    revoked = run_cli("cloud", "revoke", used.device, "--yes", "--state", str(state))
    assert revoked.returncode == 0 and "event=device_revoked" in revoked.stderr
