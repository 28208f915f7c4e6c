"""The cart upsell in headless Debian Chromium, on a real node (issue 20): phones are fresh
browser contexts; each is in the arm its node-issued visitor id puts it in; the upsell arm sees
"Add Pastel for R$5.00", accepts it, and the pastel is in the order and on its receipt; the
control arm never sees the offer. The menu-order flag likewise: its "popular" arm sees the
last hour's best seller (a pastel sold before the phones came) first under "Popular right now",
its "catalog" arm the catalogue's order and no picks."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from bundles import flags_table, signed, upsell
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess, run_cli, start_node

from appliance.flags.evaluate import FlagSet

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
SCOPE = "ana/fair-26"
UPSELL: dict[str, Any] = upsell({  # docs/flags.md's example
    "menu-order": {
        "state": "ENABLED",
        "variants": {"catalog": "catalog", "popular": "popular"},
        "defaultVariant": "catalog",
        "targeting": {"fractional": [["catalog", 50], ["popular", 50]]},
    },
})  # fmt: skip
PHONES = 10  # both arms among 10 phones: all but 2 in 1024 runs; more phones until both are seen

playwright = pytest.importorskip("playwright.sync_api")
axe_package = pytest.importorskip("axe_playwright_python")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[NodeProcess, Ed25519PrivateKey]]:
    key = Ed25519PrivateKey.generate()
    state = tmp_path / "state"
    assert run_cli("init", "--state", str(state)).returncode == 0
    config = state / "stallbox.toml"
    config.write_text(config.read_text() + flags_table(key))
    running = start_node(state)
    try:
        yield running, key
    finally:
        running.stop()


def test_half_the_phones_see_the_upsell_and_an_accepted_one_is_on_the_receipt(
    node: tuple[NodeProcess, Ed25519PrivateKey],
) -> None:
    stall, key = node
    now = int(time.time())
    wire = signed(key, UPSELL, issued=now)
    with stall.client(stall.pair()) as api:
        assert api.put("/api/flags", content=wire).status_code == 200
        with stall.phone() as shop:  # the last hour's sales: two pastels, before any phone
            placed = shop.post("/order", data={"pastel": "2", "tender": "cash"})
            sold = placed.headers["location"].split("/o/")[1].split("/")[0]
            assert api.post(f"/api/orders/{sold}/confirm", json={}).json()["accepted"]
        flags = FlagSet.from_document(UPSELL)
        seen: dict[str, int] = {"control": 0, "pastel": 0, "catalog": 0, "popular": 0}
        accepted = ""
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            phones = 0
            while phones < PHONES or not all(seen.values()):
                assert phones < 40, f"one arm never came up: {seen}"
                phones += 1
                phone = browser.new_context(locale="en", viewport={"width": 360, "height": 740})
                page = phone.new_page()
                page.goto(stall.url + "/")
                visitor = next(c["value"] for c in phone.cookies() if c["name"] == "sbv")
                arm = flags.evaluate("cart-upsell", {"targetingKey": visitor}, None).variant
                assert arm is not None
                seen[arm] += 1
                menu = flags.evaluate("menu-order", {"targetingKey": visitor}, None).variant
                assert menu is not None
                seen[menu] += 1
                first = page.locator("input[id^=q-]").first.get_attribute("id")
                if menu == "popular":
                    picks = page.inner_text("#popular").splitlines()  # coffee joins once sold
                    assert picks[:2] == ["Popular right now", "Pastel"], picks
                    assert first == "q-pastel"
                else:
                    assert page.locator("#popular").count() == 0 and first == "q-coffee"
                page.fill("#q-coffee", "1")
                page.click("text=Review order")
                page.wait_for_url("**/cart")
                offer = page.locator("#upsell")
                if arm == "control":
                    assert offer.count() == 0, "a control phone saw the offer"
                else:
                    assert offer.inner_text() == "Add Pastel for R$5.00"
                if arm == "pastel" and not accepted:
                    page.evaluate((resources.files(axe_package) / "axe.min.js").read_text())
                    found = page.evaluate("axe.run(document).then(r => r.violations)")
                    assert not found, [(v["id"], v["impact"]) for v in found]  # with the offer
                    page.check("#offer")
                    page.click("button[value=cash]")
                    page.wait_for_url("**/pay")
                    accepted = page.url.split("/o/")[1].split("/")[0]
                    assert api.post(f"/api/orders/{accepted}/confirm", json={}).json()["accepted"]
                    page.goto(f"{stall.url}/o/{accepted}")
                    receipt = page.inner_text("main")
                    assert "1 \u00d7 Pastel" in receipt and "R$5.00" in receipt, receipt
                    assert "R$11.00" in receipt, receipt  # 6.00 + the offer's 5.00
                phone.close()
            browser.close()
        made = api.get(f"/api/orders/{accepted}").json()
        assert {line["sku"]: line["unit"] for line in made["lines"]} == {
            "coffee": 600,
            "pastel": 500,
        }
        arms = {arm["variant"]: arm for arm in api.get("/api/flags").json()["arms"]}
        assert arms["pastel"]["views"] == seen["pastel"] and arms["pastel"]["paid"] == 1
        assert arms["control"]["views"] == seen["control"]
