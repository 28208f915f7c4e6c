"""A fan pass in headless Debian Chromium against a real node process (issue 19): a pass link
stores the pass on the phone, the next order gets its discount, its early access admits a drop
claim before the public start, and a phone without it sees no early form and is refused."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess, run_cli, start_node
from passbrowser import PHONE, browser, early_access_only_with_the_pass, needs_chromium

from appliance.passes.cose import raw_public
from appliance.passes.model import Entitlement, Kind, Pass
from appliance.passes.trust import issue_pass

ANA = Ed25519PrivateKey.generate()

__all__ = ["browser"]  # the fixture, used by name
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    state = tmp_path_factory.mktemp("passes") / "BRL"
    assert run_cli("init", "--state", str(state), "--currency", "BRL").returncode == 0
    config = state / "stallbox.toml"
    key = raw_public(ANA.public_key()).hex()
    config.write_text(
        config.read_text()
        + '\n[[catalog]]\nsku = "dish"\nname = "Dish"\nprice = "24.00"\n'
        + f'\n[passes]\ncreators = {{ "creator:ana" = "{key}" }}\n'
    )
    running = start_node(state)
    try:
        yield running
    finally:
        running.stop()


def fan_pass() -> str:
    now = int(time.time())
    grants = (Entitlement(Kind.PERCENT_OFF, 10, ("dish",)), Entitlement(Kind.EARLY_ACCESS, 30))
    card = Pass(
        secrets.token_hex(16), "creator:ana", "Fan 1", now - 3600, now + 86400, now - 3600,
        grants, "",
    )  # fmt: skip
    return issue_pass(ANA, card)


def test_a_pass_link_gives_the_discount_and_early_access(node: NodeProcess, browser: Any) -> None:
    with node.client(node.pair()) as api:
        starts = datetime.now(UTC) + timedelta(minutes=10)
        drop = api.post(
            "/api/drops", json={"sku": "dish", "quantity": 5, "starts_at": starts.isoformat()}
        ).json()
    context = browser.new_context(viewport=PHONE, locale="en")
    page = context.new_page()
    page.goto(node.url + "/#pass=" + quote(fan_pass(), safe=""))
    assert page.evaluate("location.hash") == ""  # kept on the phone, gone from the address
    assert page.locator("#pass-kept").is_visible()
    page.fill("#q-dish", "1")
    page.click("button[type=submit]")
    page.wait_for_url("**/cart")
    assert page.locator(".row.discount").inner_text().endswith("\u2212R$2.40")
    assert "Total: R$21.60" in page.inner_text(".total")
    page.click("button[value=cash]")
    page.wait_for_url("**/pay")
    assert "21.60" in page.inner_text("main")

    early_access_only_with_the_pass(browser, page, node.url, drop["id"])  # 10 min before the start
    context.close()
