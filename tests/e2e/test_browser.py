"""An attendee in headless Debian Chromium: menu → cart → pay page → (operator confirms) → receipt.

The pay page's screenshot must decode with zxing-cpp to the order's payload. Screenshots are kept
in $STALLBOX_ARTIFACTS (default ./artifacts) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from nodeproc import REPO, NodeProcess, start_node
from PIL import Image

from appliance.config import load_config
from appliance.domain.money import Money
from appliance.payments.registry import RailRegistry

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("STALLBOX_ARTIFACTS", REPO / "artifacts"))
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PIX = """
[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""

LIMITED = """
[policy.rails.pix]
per_sale_limit = "10.00"
"""

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")


def node_with(tmp_path: Path, extra: str) -> NodeProcess:
    state = tmp_path / "state"
    from nodeproc import run_cli

    assert run_cli("init", "--state", str(state)).returncode == 0
    with (state / "stallbox.toml").open("a") as config:
        config.write(extra)
    return start_node(state)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = node_with(tmp_path, PIX)
    yield running
    running.stop()


@pytest.fixture
def limited_node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = node_with(tmp_path, PIX + LIMITED)  # pix at most 10.00 a sale; a pastel is 9.00
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def decode_screenshot(path: Path) -> str:
    found = zxingcpp.read_barcodes(Image.open(path))
    assert found, f"no QR code found in {path}"
    return found[0].text


def test_attendee_pays_by_pix_and_gets_a_verified_receipt(
    node: NodeProcess, browser: object
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 360, "height": 800}, locale="pt-BR")  # type: ignore[attr-defined]
    page.goto(node.url + "/")
    assert "Pastel" in page.content()
    page.fill("#q-pastel", "2")
    page.click("text=Revisar pedido")
    page.click("button[value=pix]")
    page.wait_for_url(re.compile(r"/o/[0-9a-f]+/pay$"))
    page.wait_for_function(
        "document.getElementById('qr').complete && document.getElementById('qr').naturalWidth > 0"
    )
    reference = page.inner_text("#reference")
    shot = ARTIFACTS / "pay-page.png"
    page.screenshot(path=str(shot), full_page=True)
    config = load_config(node.state / "stallbox.toml")
    expected = RailRegistry.from_config(config.rails, "BRL").payload(
        "pix", Money(1800, "BRL"), reference
    )
    assert decode_screenshot(shot) == expected
    assert page.input_value("#code") == expected
    assert page.inner_text("#copy") == "Copiar código"

    order_id = page.url.split("/")[-2]
    token = node.pair()
    with node.client(token) as api:
        confirmed = api.post(f"/api/orders/{order_id}/confirm", json={}).json()
    assert confirmed["accepted"]
    page.wait_for_url(re.compile(rf"/o/{order_id}$"), timeout=10_000)  # SSE moved the page on
    assert "Pago" in page.inner_text("#status")
    assert "Assinatura verificada" in page.inner_text("#verified")
    assert page.inner_text("#receipt-line") == confirmed["receipt"]["line"]
    page.screenshot(path=str(ARTIFACTS / "receipt-page.png"), full_page=True)


def test_the_flow_works_with_javascript_off(node: NodeProcess, browser: object) -> None:
    context = browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, viewport={"width": 360, "height": 800}, locale="pt-BR"
    )
    page = context.new_page()
    page.goto(node.url + "/")
    page.fill("#q-coffee", "1")
    page.click("text=Revisar pedido")
    page.fill("#note", "<script>alert('x')</script> sem açúcar")
    page.click("button[value=cash]")
    page.wait_for_url(re.compile(r"/o/[0-9a-f]+/pay$"))
    assert "<script>alert" not in page.content().split("<main>")[1]
    assert "sem açúcar" in page.inner_text("main")
    order_id = page.url.split("/")[-2]
    with node.client(node.pair()) as api:
        assert api.post(f"/api/orders/{order_id}/confirm", json={}).json()["accepted"]
    page.goto(f"{node.url}/o/{order_id}/pay")  # what the meta refresh does
    assert page.url.endswith(f"/o/{order_id}")
    assert "Pago" in page.inner_text("#status")
    for path in ("/", f"/o/{order_id}"):
        assert len(page.context.request.get(node.url + path).body()) <= 30_000
    context.close()


def test_the_cart_over_a_rails_per_sale_limit_does_not_offer_it(
    limited_node: NodeProcess, browser: object
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 360, "height": 800}, locale="pt-BR")  # type: ignore[attr-defined]
    page.goto(limited_node.url + "/")
    page.fill("#q-pastel", "1")  # 9.00: within the limit, pix is offered
    page.click("text=Revisar pedido")
    assert page.locator("button[value=pix]").count() == 1
    page.goto(limited_node.url + "/")
    page.fill("#q-pastel", "2")  # 18.00: over it, only cash
    page.click("text=Revisar pedido")
    assert page.locator("button[value=cash]").count() == 1
    assert page.locator("button[value=pix]").count() == 0
    page.screenshot(path=str(ARTIFACTS / "cart-over-limit.png"), full_page=True)

    page.go_back()  # a page offering pix, made stale: the amount grew behind it
    page.fill("#q-pastel", "1")
    page.click("text=Revisar pedido")
    page.eval_on_selector("input[name=pastel]", "e => { e.value = '2'; }")
    with page.expect_response(lambda r: r.url.endswith("/order")) as answer:
        page.click("button[value=pix]")
    assert answer.value.status == 409
    assert page.get_attribute("#error", "data-error") == "tender_refused"
    assert "forma de pagamento" in page.inner_text("#error")  # by code, in the page's language
    assert page.locator("button[value=pix]").count() == 0
    assert page.locator("button[value=cash]").count() == 1
