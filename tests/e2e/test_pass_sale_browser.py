"""Buying a fan pass at the stall, in headless Debian Chromium against a real node (issue 19).

The creator's key and its delegation to the box come from the CLI (`stallbox passes keygen`,
`stallbox passes delegate --state`), as at enrolment. The attendee orders the pass item and pays
cash; the operator confirms over the operator API; the receipt page keeps the pass on the phone.
Then the pass's discount applies on the next order (a line of the order and of the signed sale),
its early access admits a claim before the drop's public start, and a fresh browser without it
sees no early form and is refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nodeproc import NodeProcess, start_node
from passbrowser import PHONE, browser, early_access_only_with_the_pass, needs_chromium

from appliance.cli import main
from appliance.passes.trust import TrustStore

__all__ = ["browser"]  # the fixture, used by name
pytestmark = [
    needs_chromium,
    pytest.mark.slow,  # a node, a browser (and a cloud): scheduled first (conftest.py)
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base = tmp_path_factory.mktemp("pass-sale")
    state = base / "BRL"
    said = io.StringIO()
    with contextlib.redirect_stdout(said):  # in process: the CLI's own main(), seconds saved
        assert main(["init", "--state", str(state), "--currency", "BRL"]) == 0
        said.truncate(0)
        said.seek(0)
        assert main(["passes", "keygen", "--out", str(base / "ana.key")]) == 0
        creator_hex = said.getvalue().split()[0]
        (state / "passes").mkdir()
        granted = main([
            "passes", "delegate", "--creator-key", str(base / "ana.key"), "--issuer",
            "creator:ana", "--state", str(state), "--days", "30", "--start",
            str(int(time.time()) - 60), "--out", str(state / "passes" / "ana.delegation"),
        ])  # fmt: skip
        assert granted == 0
    config = state / "stallbox.toml"
    config.write_text(
        config.read_text()
        + '\n[[catalog]]\nsku = "dish"\nname = "Dish"\nprice = "24.00"\n'
        + '\n[[catalog]]\nsku = "fanpass"\nname = "Fan pass"\nprice = "30.00"\n'
        + f'\n[passes]\ncreators = {{ "creator:ana" = "{creator_hex}" }}\n'
        + 'delegation = "passes/ana.delegation"\n'
        + '\n[[passes.products]]\nsku = "fanpass"\ncreator = "creator:ana"\ndays = 30\n'
        + 'entitlements = [\n  { kind = "percent_off", value = 10, items = ["dish"] },\n'
        + '  { kind = "early_access", value = 30 },\n]\n'
    )
    running = start_node(state)
    try:
        yield running
    finally:
        running.stop()


def order_and_confirm(node: NodeProcess, api: Any, page: Any, sku: str) -> dict[str, Any]:
    """Order one `sku` in cash on the phone, confirm it over the operator API; the answer."""
    page.goto(node.url + "/")
    page.fill(f"#q-{sku}", "1")
    page.click("button[type=submit]")
    page.wait_for_url("**/cart")
    page.click("button[value=cash]")
    page.wait_for_url("**/pay")
    order_id = page.url.split("/")[-2]
    done = api.post(f"/api/orders/{order_id}/confirm", json={})
    assert done.status_code == 200 and done.json()["accepted"], done.text
    page.wait_for_url(f"**/o/{order_id}")  # the pay page follows the order's state
    answer: dict[str, Any] = done.json()
    return answer


def signed_items(node: NodeProcess, seq: int) -> list[dict[str, Any]]:
    """The signed items of the receipt at `seq`, read from the node's ledger (read-only)."""
    conn = sqlite3.connect(f"file:{node.state / 'stallbox.db'}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT items FROM receipts WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    items: list[dict[str, Any]] = json.loads(row[0])
    return items


def test_a_pass_bought_at_the_stall_gives_its_discount_and_early_access(
    node: NodeProcess, browser: Any
) -> None:
    with node.client(node.pair()) as api:
        starts = datetime.now(UTC) + timedelta(minutes=10)
        drop = api.post(
            "/api/drops", json={"sku": "dish", "quantity": 5, "starts_at": starts.isoformat()}
        ).json()
        context = browser.new_context(viewport=PHONE, locale="en")
        page = context.new_page()
        bought = order_and_confirm(node, api, page, "fanpass")
        shown = page.locator("[data-issued-pass]")
        text = shown.get_attribute("data-issued-pass")
        assert text is not None and text.startswith("SBP1:")
        assert page.evaluate("localStorage.getItem('stallbox.pass')") == text  # kept on the phone
        assert page.locator("#pass-kept").is_visible()
        qr = context.request.get(
            node.url + page.locator("img[src$='/pass/0.png']").get_attribute("src")
        )
        assert qr.status == 200 and qr.headers["content-type"] == "image/png"
        issued = [i for i in signed_items(node, bought["receipt"]["seq"]) if "of" in i]
        assert [i["of"] for i in issued] == ["fanpass"]  # the issuance, in the signed sale

        page.goto(node.url + "/")  # the menu presents it by itself
        assert page.locator("#pass-kept").is_visible()
        dinner = order_and_confirm(node, api, page, "dish")
        lines = {ln["sku"]: ln for ln in dinner["order"]["lines"]}
        discount = [ln for sku, ln in lines.items() if sku.startswith("pass:")]
        assert [ln["unit"] for ln in discount] == [-240], lines  # in the order
        items = signed_items(node, dinner["receipt"]["seq"])
        assert [i["unit"] for i in items if i["sku"].startswith("pass:")] == [-240]  # and the sale
        assert dinner["receipt"] is not None and "21.60" in page.inner_text(".total")

        # ten minutes before the public start
        early_access_only_with_the_pass(browser, page, node.url, drop["id"])
        context.close()

    config = tomllib.loads((node.state / "stallbox.toml").read_text())
    creator = Ed25519PublicKey.from_public_bytes(
        bytes.fromhex(config["passes"]["creators"]["creator:ana"])
    )
    trust = TrustStore({"creator:ana": creator})  # any verifier: the creator key and delegation
    trust.add_delegation((node.state / "passes" / "ana.delegation").read_bytes())
    card = trust.verify(text, int(time.time()))
    assert card.issuer == "creator:ana" and card.valid_until - card.valid_from == 30 * 86_400
