"""CHANGE DUE on the attendee's receipt page: the console gives the cash handed over when it
confirms a cash order; the page shows the change in the attendee's language (issue 15)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from node_support import running_node
from test_tender_policy_api import POLICY


async def order_by(
    client: httpx.AsyncClient, auth: dict[str, str], tender: str, pastel: int = 2
) -> str:
    made = await client.post(
        "/api/orders", json={"lines": [{"sku": "pastel", "qty": pastel}]}, headers=auth
    )
    order_id = str(made.json()["id"])
    tendered = await client.post(
        f"/api/orders/{order_id}/tender", json={"tender": tender}, headers=auth
    )
    assert tendered.status_code == 200, tendered.text
    return order_id


def test_the_receipt_page_shows_the_change_due_for_cash(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", POLICY) as (client, auth, _):
            cash = await order_by(client, auth, "cash")  # 2 x 9.00 = 18.00
            short = await client.post(
                f"/api/orders/{cash}/confirm", json={"cash_received": 1000}, headers=auth
            )
            assert short.status_code == 409 and short.json()["field"] == "cash_received"
            assert "less than the total 18.00" in short.json()["error"]
            done = await client.post(
                f"/api/orders/{cash}/confirm", json={"cash_received": 5000}, headers=auth
            )
            assert done.status_code == 200 and done.json()["accepted"], done.text
            page = (await client.get(f"/o/{cash}", headers={"Accept-Language": "pt-BR"})).text
            assert "<span>Troco</span> <strong>R$\u00a032,00</strong>" in page
            assert "Dinheiro recebido: R$\u00a050,00" in page
            english = (await client.get(f"/o/{cash}", headers={"Accept-Language": "en"})).text
            assert "<span>Change due</span> <strong>R$32.00</strong>" in english

            pix = await order_by(client, auth, "pix", pastel=1)
            refused = await client.post(
                f"/api/orders/{pix}/confirm", json={"cash_received": 5000}, headers=auth
            )
            assert refused.status_code == 409 and refused.json()["field"] == "cash_received"
            plain = await order_by(client, auth, "cash", pastel=1)
            assert (
                await client.post(f"/api/orders/{plain}/confirm", json={}, headers=auth)
            ).json()["accepted"]
            assert 'id="change-due"' not in (await client.get(f"/o/{plain}")).text

    asyncio.run(scenario())
