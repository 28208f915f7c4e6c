"""The menu and drop page flags on a node, in process (issue 20): the "popular" arm sees the menu
ordered by the box's own sales of the last hour with "Popular right now" picks, the "catalog" arm
the catalogue's order; a visitor stays in its arm; the drop page's layout follows its arm; views
and paid orders are counted per arm for the canary judge; no bundle means the default pages."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from test_flags_api import bundle, flags_toml, order, running_node

from appliance.api.node import Node
from appliance.services.popular import TTL_S

VARIANTS: dict[str, Any] = {
    "flags": {
        "menu-order": {
            "state": "ENABLED",
            "variants": {"catalog": "catalog", "popular": "popular"},
            "defaultVariant": "catalog",
            "targeting": {"fractional": [["catalog", 50], ["popular", 50]]},
        },
        "drop-page": {
            "state": "ENABLED",
            "variants": {"countdown-first": "countdown-first", "stock-first": "stock-first"},
            "defaultVariant": "countdown-first",
            "targeting": {"fractional": [["countdown-first", 50], ["stock-first", 50]]},
        },
    }
}


async def get(client: httpx.AsyncClient, path: str, visitor: str) -> str:
    """A page as a phone with this visitor id sees it, in English."""
    answer = await client.get(path, headers={"Cookie": f"sbv={visitor}", "Accept-Language": "en"})
    assert answer.status_code == 200, answer.text
    return answer.text


def arm_of(node: Node, flag: str, visitor: str) -> str:
    """The variant the bundle in force gives this visitor (the oracle: flags/evaluate.py)."""
    variant = node.flags.last_good.flags.evaluate(flag, {"targetingKey": visitor}, None).variant
    assert variant is not None
    return variant


def rows(page: str) -> list[str]:
    """The skus of the menu's quantity fields, in page order."""
    return sorted(("coffee", "pastel"), key=lambda sku: page.index(f'id="q-{sku}"'))


def test_the_menu_and_drop_page_follow_each_visitors_arm(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", flags_toml()) as (client, auth, node):
            seller = node.visitors.issue()
            plain = await get(client, "/", seller)  # no bundle: the catalogue's order, no picks
            assert rows(plain) == ["coffee", "pastel"] and 'id="popular"' not in plain
            sold = await order(
                client, seller, "pastel=2&tender=cash"
            )  # the last hour's best seller
            confirmed = await client.post(f"/api/orders/{sold}/confirm", json={}, headers=auth)
            assert confirmed.json()["accepted"]
            assert (
                await client.put("/api/flags", content=bundle(VARIANTS), headers=auth)
            ).is_success
            soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(timespec="seconds")
            opened = (datetime.now(UTC) - timedelta(seconds=20)).isoformat(timespec="seconds")
            drops = []
            for starts in (soon, opened):
                made = await client.post("/api/drops", headers=auth, json={
                    "sku": "pastel", "quantity": 12, "starts_at": starts})  # fmt: skip
                assert made.status_code == 201, made.text
                drops.append(made.json()["id"])

            seen: dict[str, list[str]] = {"catalog": [], "popular": []}
            layouts = {"countdown-first": 0, "stock-first": 0}
            for _ in range(40):
                visitor = node.visitors.issue()
                arm = arm_of(node, "menu-order", visitor)
                seen[arm].append(visitor)
                page = await get(client, "/", visitor)
                if arm == "popular":
                    assert rows(page) == ["pastel", "coffee"], page
                    assert 'id="popular"' in page and "Popular right now" in page
                    assert '<li data-sku="pastel">Pastel</li>' in page
                else:
                    assert rows(page) == ["coffee", "pastel"] and 'id="popular"' not in page
                layout = arm_of(node, "drop-page", visitor)
                layouts[layout] += 1
                countdown = await get(client, f"/d/{drops[0]}", visitor)
                live = await get(client, f"/d/{drops[1]}", visitor)
                if layout == "stock-first":
                    assert 'id="stock"' in countdown and "Available: 12 of 12" in countdown
                    assert countdown.index('id="stock"') < countdown.index('id="countdown"')
                    assert live.index('id="left"') < live.index('class="amount"')
                else:
                    assert 'id="stock"' not in countdown and "data-layout" not in live
                    assert live.index('class="amount"') < live.index('id="left"')
            assert all(seen.values()) and all(layouts.values()), (seen, layouts)
            for arm, visitors in seen.items():  # a phone stays in its arm, page after page
                again = await get(client, "/", visitors[0])
                assert ('id="popular"' in again) == (arm == "popular")

            # a new phone (no cookie) is in the arm of the id the menu issues it
            fresh = await client.get("/", headers={"Accept-Language": "en"})
            issued = fresh.cookies["sbv"]
            wanted = arm_of(node, "menu-order", issued) == "popular"
            assert ('id="popular"' in fresh.text) == wanted

            buyer = seen["popular"][0]
            paid = await order(client, buyer, "coffee=1&tender=cash")
            await client.post(f"/api/orders/{paid}/confirm", json={}, headers=auth)
            arms = {
                (a["flag"], a["variant"]): a
                for a in (await client.get("/api/flags", headers=auth)).json()["arms"]
            }
            popular = arms[("menu-order", "popular")]
            assert popular["views"] == len(seen["popular"]) + wanted  # a second look: one visitor
            assert popular["paid"] == 1 and arms[("menu-order", "catalog")]["paid"] == 0
            stock = arms[("drop-page", "stock-first")]
            assert stock["views"] == layouts["stock-first"]  # two drop pages: one visitor each

    asyncio.run(scenario())


def test_popular_picks_are_cached_for_seconds_not_queried_per_page(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_node(tmp_path / "state", flags_toml()) as (client, auth, node):
            assert (
                await client.put("/api/flags", content=bundle(VARIANTS), headers=auth)
            ).is_success
            queries = 0
            sold = node.popular.sold

            async def counted() -> tuple[tuple[str, int], ...]:
                nonlocal queries
                before = node.popular._cached
                got = await sold()
                queries += node.popular._cached is not before
                return got

            node.popular.sold = counted  # type: ignore[method-assign]
            visitor = next(
                v for v in (node.visitors.issue() for _ in range(50))
                if arm_of(node, "menu-order", v) == "popular"
            )  # fmt: skip
            started = time.monotonic()
            for _ in range(30):
                node.menu_page.clear()  # as if each page's second were past: the picks stay
                await get(client, "/", visitor)
            if time.monotonic() - started < TTL_S:  # (a slow machine: no claim)
                assert queries == 1, queries

    asyncio.run(scenario())


def test_a_definition_of_the_wrong_type_means_the_default_page_for_everyone(
    tmp_path: Path,
) -> None:
    wrong: dict[str, Any] = {"flags": {"menu-order": {
        "state": "ENABLED", "variants": {"catalog": 0, "popular": 1}, "defaultVariant": "catalog",
        "targeting": {"fractional": [["catalog", 0], ["popular", 100]]},
    }}}  # fmt: skip

    async def scenario() -> None:
        async with running_node(tmp_path / "state", flags_toml()) as (client, auth, node):
            assert (await client.put("/api/flags", content=bundle(wrong), headers=auth)).is_success
            for _ in range(5):
                page = await get(client, "/", node.visitors.issue())
                assert 'id="popular"' not in page and rows(page) == ["coffee", "pastel"]
            answer = (await client.get("/api/flags", headers=auth)).json()["arms"]
            assert all(arm["views"] == 0 for arm in answer), answer  # no arm: nothing counted

    asyncio.run(scenario())
