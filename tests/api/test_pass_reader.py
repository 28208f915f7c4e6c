"""A pass read at the console (issue 19): the operator routes that check it and apply it to a sale.

The same pass text shown twice — at the phone, then (a screenshot) at the console — redeems its
allowance once: the count is the box's, per pass id and period, whichever plane asked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_pass_checkout import ANA, REVOKED, card, node_with_passes, order_with, paid_items

from appliance.passes.model import Entitlement, Kind, Period
from appliance.passes.trust import issue_pass

DRINK = Entitlement(Kind.ALLOWANCE, 1, ("coffee",), period=Period.EVENT)


def test_phone_then_console_redeems_once(tmp_path: Path) -> None:
    shown = issue_pass(ANA, card(DRINK))

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, planes):
            total, _ = await paid_items(
                client, auth, planes, await order_with(client, {"coffee": "1", "pass": shown})
            )
            assert total == 0  # the phone's order redeemed the one drink

            read = await client.post("/api/passes/read", json={"pass": shown}, headers=auth)
            assert read.status_code == 200, read.text
            assert read.json()["holder"] == "Fan 1"
            assert read.json()["grants"] == ["1 free per event on coffee"]

            made = await client.post(
                "/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]}, headers=auth
            )
            order_id = made.json()["id"]
            again = await client.post(
                f"/api/orders/{order_id}/pass", json={"pass": shown}, headers=auth
            )
            assert again.status_code == 200, again.text
            assert again.json()["total"] == made.json()["total"] > 0  # nothing left to redeem
            assert all(line["total"] >= 0 for line in again.json()["lines"])

    asyncio.run(scenario())


def test_a_fresh_pass_applies_once_per_order_and_a_refused_one_says_why(tmp_path: Path) -> None:
    fresh = issue_pass(ANA, card(DRINK, Entitlement(Kind.PERCENT_OFF, 10)))

    async def scenario() -> None:
        async with node_with_passes(tmp_path) as (client, auth, _):
            made = await client.post(
                "/api/orders", json={"lines": [{"sku": "coffee", "qty": 2}]}, headers=auth
            )
            order_id, full = made.json()["id"], made.json()["total"]
            for _ in range(2):  # read twice into the same sale: still one drink free
                applied = await client.post(
                    f"/api/orders/{order_id}/pass", json={"pass": fresh}, headers=auth
                )
                assert applied.status_code == 200, applied.text
                unit = full // 2
                assert applied.json()["total"] == unit - unit // 10

            refused = await client.post(
                "/api/passes/read", json={"pass": issue_pass(ANA, REVOKED)}, headers=auth
            )
            assert refused.status_code == 409
            assert refused.json()["field"] == "pass"
            assert refused.json()["error"].startswith("revoked:")
            garbage = await client.post(
                f"/api/orders/{order_id}/pass", json={"pass": "SBP1:??"}, headers=auth
            )
            assert garbage.status_code == 409 and garbage.json()["error"].startswith("malformed")
            missing = await client.post(f"/api/orders/{order_id}/pass", json={}, headers=auth)
            assert missing.status_code == 422 and missing.json()["field"] == "pass"
            noauth = await client.post("/api/passes/read", json={"pass": fresh})
            assert noauth.status_code == 401

            await client.post(f"/api/orders/{order_id}/cancel", headers=auth)
            closed = await client.post(
                f"/api/orders/{order_id}/pass", json={"pass": fresh}, headers=auth
            )
            assert closed.status_code == 409

    asyncio.run(scenario())
