"""Restock and the daily close through the operator API, in process (issue 22)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from node_support import running_node

from appliance.services.ledger_files import verify_state

Auth = dict[str, str]


async def sell(client: httpx.AsyncClient, auth: Auth, tender: str = "cash", **lines: int) -> Any:
    """Sell one order; the confirm answer (or the refusal of its creation)."""
    body = {"lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()]}
    made = await client.post("/api/orders", json=body, headers=auth)
    if made.status_code != 201:
        return made
    order = made.json()["id"]
    tendered = await client.post(
        f"/api/orders/{order}/tender", json={"tender": tender}, headers=auth
    )
    assert tendered.status_code == 200, tendered.text
    return await client.post(f"/api/orders/{order}/confirm", json={}, headers=auth)


async def stock_of(client: httpx.AsyncClient, auth: Auth, sku: str) -> int | None:
    items = (await client.get("/api/catalog", headers=auth)).json()
    found: int | None = next(i["stock"] for i in items if i["sku"] == sku)
    return found


def test_restocked_units_sell_and_the_restock_is_recorded(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state") as (client, auth, _):
            url = "/api/catalog/pastel/stock"
            counted = await client.post(
                url, json={"mode": "set", "qty": 1, "operator": "ana"}, headers=auth
            )
            assert counted.status_code == 200 and counted.json()["stock"] == 1
            assert (await sell(client, auth, pastel=1)).status_code == 200
            refused = await sell(client, auth, pastel=1)  # none left
            assert refused.status_code == 409 and "0 left" in refused.text
            added = await client.post(url, json={"qty": 2, "note": "crate 2"}, headers=auth)
            assert added.json()["stock"] == 2
            for _ in range(2):  # the new stock sells
                assert (await sell(client, auth, pastel=1)).status_code == 200
            assert await stock_of(client, auth, "pastel") == 0
            moves = (await client.get("/api/stock-moves", headers=auth)).json()
            assert [(m["delta"], m["stock"], m["operator"]) for m in moves] == [
                (2, 2, "console"), (-39, 1, "ana"),
            ]  # fmt: skip

    asyncio.run(scenario())


def test_bad_restocks_name_the_field_and_change_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state") as (client, auth, _):
            url = "/api/catalog/pastel/stock"
            mode = await client.post(url, json={"qty": 1, "mode": "take"}, headers=auth)
            assert mode.status_code == 422 and mode.json()["field"] == "mode"
            neither = await client.post(url, json={}, headers=auth)
            assert neither.status_code == 422 and neither.json()["field"] == "qty"
            negative = await client.post(url, json={"qty": -1}, headers=auth)
            assert negative.status_code == 422 and negative.json()["field"] == "qty"
            over = await client.post(url, json={"qty": 999_990}, headers=auth)
            assert over.status_code == 409 and over.json()["field"] == "qty"
            unlimited = await client.post(
                "/api/catalog/coffee/stock", json={"qty": 1}, headers=auth
            )
            assert unlimited.status_code == 409 and "unlimited" in unlimited.text
            unknown = await client.post("/api/catalog/nope/stock", json={"qty": 1}, headers=auth)
            assert unknown.status_code == 404
            no_token = await client.post(url, json={"qty": 1})
            assert no_token.status_code == 401
            assert await stock_of(client, auth, "pastel") == 40
            assert (await client.get("/api/stock-moves", headers=auth)).json() == []

    asyncio.run(scenario())


def test_close_over_the_api_reports_what_it_signed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state") as (client, auth, _):
            assert (await sell(client, auth, pastel=2)).status_code == 200
            assert (await sell(client, auth, coffee=1)).status_code == 200
            preview = (await client.get("/api/close", headers=auth)).json()
            assert preview["closed"] is False and preview["gross"] == preview["cash_expected"]
            closed = await client.post("/api/close", headers=auth)
            assert closed.status_code == 201
            report = closed.json()
            assert report["closed"] and report["seq"] == 3 and report["sales"] == 2
            assert report["gross"] == preview["gross"] == report["cash_expected"]
            assert report["line"].split(";")[6] == "close"
            assert int(report["line"].split(";")[8]) == report["gross"]
            after = (await client.get("/api/close", headers=auth)).json()
            assert (after["from_seq"], after["sales"], after["gross"]) == (4, 0, 0)

    asyncio.run(scenario())


def test_a_clock_behind_the_ledger_never_blocks_a_sale_and_can_be_set(tmp_path: Path) -> None:
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)  # the last receipt

    async def scenario() -> None:
        async with running_node(tmp_path / "state", born=ahead) as (client, auth, _):
            clock = (await client.get("/api/clock", headers=auth)).json()
            assert clock["alarm"] and "behind the last receipt" in clock["alarm"]
            sold = await sell(client, auth, coffee=1)
            assert sold.status_code == 200  # never blocked
            line = sold.json()["receipt"]["line"].split(";")
            assert line[5] == ahead.strftime("%Y%m%dT%H%M%SZ")  # not before the start receipt
            clock = (await client.get("/api/clock", headers=auth)).json()
            assert clock["alarms"] == 1 and "behind" in clock["last_alarm"]
            later = (ahead + timedelta(minutes=5)).isoformat()
            set_ = await client.post("/api/clock", json={"now": later}, headers=auth)
            assert set_.status_code == 200 and set_.json()["alarm"] is None
            assert set_.json()["offset_s"] > 7000
            line = (await sell(client, auth, coffee=1)).json()["receipt"]["line"].split(";")
            assert line[5] >= (ahead + timedelta(minutes=5)).strftime("%Y%m%dT%H%M%SZ")
            bad = await client.post(
                "/api/clock", json={"now": "2001-01-01T00:00:00Z"}, headers=auth
            )
            assert bad.status_code == 409 and bad.json()["field"] == "now"

    asyncio.run(scenario())
    assert verify_state(tmp_path / "state").count == 3
