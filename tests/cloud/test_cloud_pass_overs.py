"""Over-redemptions of passes at the cloud (issue 19): a box reports them with its own token,
the admin lists them; another device's token, no token, a bad body are refused and store nothing.
The box side is sync/pass_overs.ship, run here against the app (in process), on both cloud stores:
the reports live in the store, so a second cloud process on the same database lists them."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cloudfix import ADMIN, CloudClient, StoreOpener, make_chain, open_store
from pgserver import pg_server

from appliance.services.box import init_state
from appliance.services.cloud_account import CloudAccount
from appliance.store.connection import DB_NAME, open_sync
from sync.cloud.creators import hash_password
from sync.pass_overs import ship

__all__ = ["open_store", "pg_server"]  # fixtures, used by name


def add_over(db: Path, pass_id: str, used: int) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "INSERT INTO pass_overs (pass_id, period, used, allowance, found_at)"
            " VALUES (?, 'fair/0', ?, 1, '2026-12-04T21:00:00+00:00') ON CONFLICT DO UPDATE"
            " SET used = excluded.used, reported = 0",
            (pass_id, used),
        )
    conn.close()


def test_a_box_reports_its_over_redemptions_and_the_admin_lists_them(
    tmp_path: Path, open_store: StoreOpener
) -> None:
    box = tmp_path / "box"
    init_state(box, "BRL", datetime.now(UTC))
    add_over(box / DB_NAME, "aa" * 16, 2)

    async def scenario() -> None:
        client = CloudClient(await open_store())
        try:
            chain, other = make_chain(1), make_chain(1)
            token, other_token = await client.enrol(chain), await client.enrol(other, "other")
            account = CloudAccount("http://cloud", chain.device, token, "o", "v")
            conn = open_sync(box / DB_NAME)
            assert await ship(conn, account, client.http) == 1
            assert await ship(conn, account, client.http) == 0  # reported: not sent again
            add_over(box / DB_NAME, "aa" * 16, 3)  # it grew: goes again
            assert await ship(conn, account, client.http) == 1
            conn.close()
            url = f"/v1/devices/{chain.device}/pass-overs"
            body = {"overs": [{"pass_id": "bb", "period": "p", "used": 5, "allowance": 1,
                               "found_at": "t"}]}  # fmt: skip
            refused = [
                await client.http.post(url, json=body),
                await client.http.post(
                    url, json=body, headers={"Authorization": f"Bearer {other_token}"}
                ),
                await client.http.post(
                    url,
                    json={"overs": [{**body["overs"][0], "used": 1}]},
                    headers={"Authorization": f"Bearer {token}"},
                ),
                await client.http.get("/api/passes/over-redemptions"),
            ]
            assert [r.status_code for r in refused] == [401, 403, 400, 401], [
                r.text for r in refused
            ]
            listed = await client.http.get(
                "/api/passes/over-redemptions", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            assert listed.status_code == 200
            assert [(o["pass_id"], o["used"], o["devices"]) for o in listed.json()] == [
                ("aa" * 16, 3, [chain.device])
            ]
            other_url = f"/v1/devices/{other.device}/pass-overs"
            other_auth = {"Authorization": f"Bearer {other_token}"}
            assert (await client.http.post(other_url, json=body, headers=other_auth)).is_success
            tables = client.app.state.creator_tables  # the creator's dashboard: her boxes only
            await tables.add_creator("ana", hash_password("correct horse battery"), "t")
            await tables.assign(chain.device, "ana", "fair", "t")
            login = {"creator": "ana", "password": "correct horse battery"}
            assert (await client.http.post("/dashboard/login", data=login)).status_code == 303
            page = (await client.http.get("/dashboard/events/fair")).text
            assert f'data-pass-over="{"aa" * 16}"' in page and "3 of 1" in page, page
            assert 'data-pass-over="bb"' not in page  # another event's box
        finally:
            await client.close()
        other_process = CloudClient(await open_store())  # another cloud process, same database
        try:
            listed = await other_process.http.get(
                "/api/passes/over-redemptions", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            assert [(o["pass_id"], o["used"]) for o in listed.json()] == [("aa" * 16, 3), ("bb", 5)]
        finally:
            await other_process.close()
        assert not list(tmp_path.glob("pass_overs.sqlite*"))  # no file beside the store

    asyncio.run(scenario())


def test_a_failed_report_goes_again(tmp_path: Path) -> None:
    box = tmp_path / "box"
    init_state(box, "BRL", datetime.now(UTC))
    add_over(box / DB_NAME, "cc" * 16, 2)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("the uplink is down", request=request)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
            conn = open_sync(box / DB_NAME)
            account = CloudAccount("http://cloud", "dev", "t", "o", "v")
            assert await ship(conn, account, http) == 0
            row = conn.execute("SELECT reported FROM pass_overs").fetchone()
            conn.close()
            assert row == (0,)

    asyncio.run(scenario())
