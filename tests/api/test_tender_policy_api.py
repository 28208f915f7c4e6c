"""The policy at tender through both planes (in process): GET /api/tenders?order=, a refused
tender is 409 naming `tender`, an attendee's crafted POST gets the cart back with what is left,
and confirmation never refuses what the tender accepted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
from node_support import running_node

POLICY = """
[policy.rails.pix]
per_sale_limit = "10.00"
exposure_limit = "15.00"

[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""


async def new_order(client: httpx.AsyncClient, headers: dict[str, str], pastel: int) -> str:
    lines = [{"sku": "pastel", "qty": pastel}]
    made = await client.post("/api/orders", json={"lines": lines}, headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_the_operator_api_offers_and_takes_only_what_the_policy_accepts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", POLICY) as (client, auth, _):
            assert (await client.get("/api/tenders", headers=auth)).json() == ["cash", "pix"]
            big = await new_order(client, auth, pastel=2)  # 18.00 > 10.00
            offered = await client.get("/api/tenders", params={"order": big}, headers=auth)
            assert offered.json() == ["cash"]
            refused = await client.post(
                f"/api/orders/{big}/tender", json={"tender": "pix"}, headers=auth
            )
            assert refused.status_code == 409
            assert refused.json()["field"] == "tender"
            assert "per-sale limit for pix; offered now: cash" in refused.json()["error"]
            order = (await client.get(f"/api/orders/{big}", headers=auth)).json()
            assert order["state"] == "open" and order["tender"] is None

            small = await new_order(client, auth, pastel=1)  # 9.00: 9.00 of 15.00
            offered = await client.get("/api/tenders", params={"order": small}, headers=auth)
            assert offered.json() == ["cash", "pix"]
            tendered = await client.post(
                f"/api/orders/{small}/tender", json={"tender": "pix"}, headers=auth
            )
            assert tendered.status_code == 200, tendered.text
            forced = await client.post(  # the operator overrides at tender: 18.00 of 15.00
                f"/api/orders/{big}/tender",
                json={"tender": "pix", "operator": "ana", "override_reason": "bank app seen"},
                headers=auth,
            )
            assert forced.status_code == 200, forced.text
            for order_id in (small, big):  # exposure is over the limit now; both stand
                done = await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=auth)
                assert done.status_code == 200 and done.json()["accepted"], done.text
            decisions = (await client.get("/api/decisions", headers=auth)).json()
            assert [d["verdict"] for d in decisions] == ["override", "accept", "refuse"]
            missing = await client.get("/api/tenders", params={"order": "nope"}, headers=auth)
            assert missing.status_code == 404

    asyncio.run(scenario())


def test_a_crafted_attendee_post_gets_the_cart_back_with_the_remaining_choices(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", POLICY) as (client, auth, _):
            cart = await client.post("/cart", data={"pastel": "2"})
            assert cart.status_code == 200
            assert 'value="cash"' in cart.text and 'value="pix"' not in cart.text
            cart = await client.post("/cart", data={"pastel": "1"})
            assert 'value="pix"' in cart.text
            stale = await client.post("/order", data={"pastel": "2", "tender": "pix"})
            assert stale.status_code == 409
            assert 'data-error="tender_refused"' in stale.text  # the page says it by code
            assert 'value="cash"' in stale.text and 'value="pix"' not in stale.text
            orders = (await client.get("/api/orders", headers=auth)).json()
            assert orders == []  # nothing but the refusal was stored
            decisions = (await client.get("/api/decisions", headers=auth)).json()
            assert [d["verdict"] for d in decisions] == ["refuse"]

    asyncio.run(scenario())


def test_a_drop_page_offers_what_the_policy_accepts_and_a_refused_claim_takes_nothing(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", POLICY) as (client, auth, _):
            drop = await client.post(
                "/api/drops",
                json={
                    "sku": "pastel",
                    "quantity": 5,
                    "per_attendee": 2,
                    "starts_at": datetime.now(UTC).isoformat(),
                },
                headers=auth,
            )
            assert drop.status_code == 201, drop.text
            page = f"/d/{drop.json()['id']}"
            assert 'value="pix"' in (await client.get(page)).text  # 9.00 of 15.00
            claimed = await client.post(page + "/claim", data={"qty": "2", "tender": "pix"})
            assert claimed.status_code == 409  # 18.00 > 10.00 per sale
            assert 'data-error="tender_refused"' in claimed.text
            assert 'value="cash"' in claimed.text
            left = (await client.get("/api/drops", headers=auth)).json()[0]["left"]
            assert left == 5
            small = await new_order(client, auth, pastel=1)
            tendered = await client.post(
                f"/api/orders/{small}/tender", json={"tender": "pix"}, headers=auth
            )
            assert tendered.status_code == 200  # 9.00 of 15.00 now waits for payment
            shown = (await client.get(page)).text  # 9.00 more would pass 15.00
            assert 'value="cash"' in shown and 'value="pix"' not in shown

    asyncio.run(scenario())
