"""POST /api/reconcile and GET /api/bank on a running node (in process): a statement uploaded
while the node sells is matched by the CLI's code, signs its evidence once, and shows per rail."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from node_support import running_node

from appliance.api.bounds import RECONCILE_BODY_BYTES

PIX = '\n[rails.pix]\nkind = "pix"\nkey = "ana@example.com"\nmerchant = "PASTEL DA ANA"\ncity = "RECIFE"\n'
MAP = """
delimiter = ";"
decimal = ","
date_format = "%Y-%m-%d %H:%M %z"
currency = "BRL"
[columns]
date = "Quando"
amount = "Valor"
id = "Id"
text = ["Mensagem"]
"""
STAMP = "%Y-%m-%d %H:%M +0000"


async def sold_by_sight(client: httpx.AsyncClient, auth: dict[str, str], qty: int) -> str:
    made = await client.post(
        "/api/orders", json={"lines": [{"sku": "pastel", "qty": qty}]}, headers=auth
    )
    order = str(made.json()["id"])
    tender = await client.post(f"/api/orders/{order}/tender", json={"tender": "pix"}, headers=auth)
    assert tender.status_code == 200, tender.text
    done = await client.post(f"/api/orders/{order}/confirm", json={}, headers=auth)
    assert done.json()["accepted"], done.text
    return order


def upload(rows: list[tuple[timedelta, str, str]], column_map: str | None = MAP) -> dict[str, Any]:
    now = datetime.now(UTC)
    text = "Quando;Id;Mensagem;Valor\n" + "".join(
        f"{now + at:{STAMP}};{bank_id};{words};{amount}\n" for at, bank_id, words in rows
        for amount in [words.split("=")[1]]
    )  # fmt: skip
    content = base64.b64encode(text.encode()).decode()
    return {"statements": [{"name": "extrato.csv", "content": content}], "column_map": column_map}


def test_a_statement_uploaded_to_a_running_node_signs_its_evidence_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", PIX) as (client, auth, _):
            fake = await sold_by_sight(client, auth, qty=2)
            paid = await sold_by_sight(client, auth, qty=1)
            ref = (await client.get(f"/api/orders/{paid}", headers=auth)).json()["reference"]
            body = upload([(-timedelta(hours=1), "E1", "aluguel =30,00"),
                           (timedelta(minutes=2), "E2", f"pix {ref} =9,00"),
                           (timedelta(hours=2), "E3", "outro =6,00")])  # fmt: skip
            answer = await client.post("/api/reconcile", json=body, headers=auth)
            assert answer.status_code == 200, answer.text
            got = answer.json()
            assert got["unmatched_sales"] == [fake] and got["matched"] == 1, got["report"]
            assert sorted((w["order"], w["state"]) for w in got["written"]) == sorted(
                [(fake, "unmatched"), (paid, "bank")])  # fmt: skip
            assert any("UNMATCHED SALE" in line for line in got["report"])
            again = await client.post("/api/reconcile", json=body, headers=auth)
            assert again.json()["written"] == []  # importing it again changes nothing
            bank = (await client.get("/api/bank", headers=auth)).json()
            assert bank["link"] == "off" and bank["provider"] is None
            assert bank["rails"]["pix"] | {} == {
                "sales": 2, "bank": 1, "unverified": 0, "unmatched": 1,
                "bank_minor": 900, "unverified_minor": 0, "unmatched_minor": 1800,
            }  # fmt: skip
            listed = (await client.get(f"/api/orders/{fake}", headers=auth)).json()
            assert listed["evidence"] == "unmatched"

    asyncio.run(scenario())


def test_a_bad_upload_is_refused_naming_the_field(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", PIX) as (client, auth, _):
            rows = [(timedelta(0), "E1", "x =1,00")]
            no_map = await client.post("/api/reconcile", json=upload(rows, None), headers=auth)
            assert no_map.status_code == 422 and no_map.json()["field"] == "statements"
            bad_map = await client.post(
                "/api/reconcile", json=upload(rows, "delimiter = 7"), headers=auth
            )
            assert bad_map.status_code == 422 and bad_map.json()["field"] == "column_map"
            huge = upload([(timedelta(0), "E1", "x =" + "9" * 5000 + ",00")])  # was a 500
            too_large = await client.post("/api/reconcile", json=huge, headers=auth)
            assert too_large.status_code == 422 and too_large.json()["field"] == "statements"
            assert "too large" in too_large.json()["error"]
            big = await client.post("/api/reconcile", content=b"{" + b" " * RECONCILE_BODY_BYTES,
                                    headers={**auth, "Content-Type": "application/json"})  # fmt: skip
            assert big.status_code == 413
            unauthorised = await client.post("/api/reconcile", json=upload(rows))
            assert unauthorised.status_code == 401

    asyncio.run(scenario())
