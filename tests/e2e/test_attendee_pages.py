"""The attendee pages in headless Debian Chromium: languages, copy-code on plain http, a skewed
phone's countdown, and axe-core on every page (issue 15).

One browser and three stalls (BRL with Pix, INR, THB) serve the whole module. Expected amounts
are CLDR's as Babel 2.19 formats them (https://cldr.unicode.org/, the "standard" currency
pattern of each locale), e.g. pt-BR "¤ #,##0.00" → "R$ 24,00", hi "¤#,##,##0.00" (Indian
grouping) → "₹1,23,456.00", th "¤#,##0.00" → "฿24.00". axe-core is the copy that the
axe-playwright-python package ships. Screenshots go to $STALLBOX_ARTIFACTS.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime, format_time
from nodeproc import REPO, NodeProcess, run_cli, start_node

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("STALLBOX_ARTIFACTS", REPO / "artifacts"))
PHONE = {"width": 360, "height": 740}
SKEW_S = float(os.environ.get("STALLBOX_CLOCK_SKEW_S", "600"))  # the phone's clock, ahead
WINDOW_S = float(os.environ.get("STALLBOX_COUNTDOWN_WINDOW_S", "5"))  # ≤ 1 request in it
STALL_HOST = "stall.test"  # mapped to 127.0.0.1: plain http that is NOT a secure context
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    f"--host-resolver-rules=MAP {STALL_HOST} 127.0.0.1",
]  # fmt: skip
ZONE = "America/Sao_Paulo"
PIX = """
[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""
NB = str.maketrans({"\u00a0": " ", "\u202f": " "})  # CLDR's no-break spaces, as plain ones

# Accept-Language, stall currency, the menu's heading word and button, the item's price.
LOCALES = [
    ("pt-BR", "BRL", "Cardápio", "Revisar pedido", "R$ 24,00"),
    ("en", "BRL", "Menu", "Review order", "R$24.00"),
    ("es", "BRL", "Menú", "Revisar pedido", "24,00 BRL"),
    ("th", "THB", "เมนู", "ตรวจสอบคำสั่งซื้อ", "฿24.00"),
    ("hi", "INR", "मेन्यू", "ऑर्डर देखें", "₹1,23,456.00"),
    ("zh-Hans", "BRL", "菜单", "查看订单", "R$24.00"),
    ("de", "BRL", "Angebot", "Bestellung prüfen", "24,00 R$"),
    ("fr", "BRL", "Menu", "Vérifier la commande", "24,00 R$"),
    ("it", "BRL", "Menù", "Rivedi l'ordine", "24,00 BRL"),
    ("nl", "BRL", "Menu", "Bestelling bekijken", "R$ 24,00"),
    ("en-IN", "INR", "Menu", "Review order", "₹1,23,456.00"),
    ("ja, fr;q=0.5", "BRL", "Menu", "Vérifier la commande", "24,00 R$"),  # first known one
    ("ja", "BRL", "Cardápio", "Revisar pedido", "R$ 24,00"),  # none known: the stall's
]
SKEWED_CLOCK = """(() => {
  const skew = %d, Real = Date;
  class Skewed extends Real {
    constructor(...a) { super(...(a.length ? a : [Real.now() + skew])); }
    static now() { return Real.now() + skew; }
  }
  globalThis.Date = Skewed;
})();"""

playwright = pytest.importorskip("playwright.sync_api")
axe_package = pytest.importorskip("axe_playwright_python")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed")


def stall(root: Path, currency: str, price: str, extra: str = "") -> NodeProcess:
    state = root / currency
    assert run_cli("init", "--state", str(state), "--currency", currency).returncode == 0
    config = state / "stallbox.toml"
    text = config.read_text().replace('locale = "pt-BR"', f'locale = "pt-BR"\ntimezone = "{ZONE}"')
    item = f'\n[[catalog]]\nsku = "dish"\nname = "Dish"\nprice = "{price}"\n'
    config.write_text(text + item + extra)
    return start_node(state)


@pytest.fixture(scope="module")
def stalls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProcess]]:
    root = tmp_path_factory.mktemp("stalls")
    running: dict[str, NodeProcess] = {}
    wanted = {"BRL": ("24.00", PIX), "INR": ("123456.00", ""), "THB": ("24.00", "")}
    try:
        with ThreadPoolExecutor(len(wanted)) as pool:  # three starts at once: a third the wait
            started = {c: pool.submit(stall, root, c, *args) for c, args in wanted.items()}
            for currency, future in started.items():
                running[currency] = future.result()
        yield running
    finally:
        for node in running.values():
            node.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def axe_script() -> str:
    return (resources.files(axe_package) / "axe.min.js").read_text(encoding="utf-8")


def no_axe_violations(page: Any, script: str, what: str) -> None:
    page.evaluate(script)
    found = page.evaluate("axe.run(document).then(r => r.violations)")
    summary = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found]
    assert not found, f"axe on {what}: {summary}"


def plain(text: str) -> str:
    return text.translate(NB)


def test_each_locale_reads_its_language_and_cldr_amounts(
    stalls: dict[str, NodeProcess], browser: Any, axe_script: str
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    for accept, currency, heading, button, price in LOCALES:
        page.set_extra_http_headers({"Accept-Language": accept})
        page.goto(stalls[currency].url + "/")
        assert heading in page.inner_text("h1"), accept
        assert page.inner_text("button[type=submit]") == button, accept
        prices = [plain(p) for p in page.locator(".price").all_inner_texts()]
        assert price in prices, (accept, prices)
        no_axe_violations(page, axe_script, f"the menu in {accept}")
    page.set_extra_http_headers({"Accept-Language": "th"})
    page.goto(stalls["THB"].url + "/")
    assert page.get_attribute("html", "lang") == "th"
    for target in page.locator("main button:visible, main input:visible").all():
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44, target.evaluate("e => e.outerHTML")
    page.click("button[data-for=q-dish][data-step='1']")  # the + beside the quantity
    page.click("button[data-for=q-dish][data-step='1']")
    page.click("button[data-for=q-dish][data-step='-1']")
    assert page.input_value("#q-dish") == "1"
    page.screenshot(path=str(artifact("menu-th.png")), full_page=True)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "th"}
    for _ in range(40):  # the THB stall only: the limiter counts 127.0.0.1, shared by the module
        answer = context.request.post(stalls["THB"].url + "/cart", data="dish=1", headers=form)
        if answer.status == 429:
            break
    assert answer.status == 429, "the limiter (burst 20) never answered 429"
    page.set_content(answer.text())
    assert page.get_attribute("#error", "data-error") == "busy"
    no_axe_violations(page, axe_script, "the 429 page")
    context.close()


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def test_copy_code_works_on_plain_http_and_leads_the_pay_page(
    stalls: dict[str, NodeProcess], browser: Any, axe_script: str
) -> None:
    node = stalls["BRL"]
    port = node.url.rsplit(":", 1)[1].rstrip("/")
    context = browser.new_context(viewport=PHONE, locale="pt-BR")
    page = context.new_page()
    page.goto(f"http://{STALL_HOST}:{port}/")
    assert page.evaluate("window.isSecureContext") is False  # no clipboard API here
    assert page.evaluate("typeof navigator.clipboard") == "undefined"
    no_axe_violations(page, axe_script, "the menu")
    page.fill("#q-dish", "2")
    page.click("text=Revisar pedido")
    no_axe_violations(page, axe_script, "the cart")
    page.click("button[value=pix]")
    page.wait_for_url(re.compile(r"/o/[0-9a-f]+/pay$"))
    payload = page.input_value("#code")
    assert payload.startswith("000201")
    copy = page.locator("#copy").bounding_box()
    qr = page.locator("#qr").bounding_box()
    assert copy is not None and qr is not None
    assert copy["y"] + copy["height"] <= PHONE["height"], f"copy button below the fold: {copy}"
    assert qr["y"] > copy["y"], "the phone leads with the code it can copy, not the QR"
    page.screenshot(path=str(artifact("pay-360x740.png")))
    no_axe_violations(page, axe_script, "the pay page")
    page.click("#copy")
    page.wait_for_function("document.getElementById('copied').textContent.length > 0")
    assert page.inner_text("#copied") == "Código copiado. Cole no app do seu banco."

    reader = context.new_page()  # 127.0.0.1 is a secure context: it may read the clipboard
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=node.url.rstrip("/"))
    reader.goto(node.url + "/sign")
    assert reader.evaluate("navigator.clipboard.readText()") == payload
    no_axe_violations(reader, axe_script, "the sign")

    order_id = page.url.split("/")[-2]
    with node.client(node.pair()) as api:
        assert api.post(f"/api/orders/{order_id}/confirm", json={}).json()["accepted"]
    page.wait_for_url(re.compile(rf"/o/{order_id}$"), timeout=10_000)
    assert "Pago" in page.inner_text("#status")
    fingerprint = page.inner_text("#fingerprint")
    assert node.fingerprint in fingerprint.replace("\n", ""), "the fingerprint, every group whole"
    created = datetime.fromisoformat(page.get_attribute("#when time", "datetime") or "")
    local = format_datetime(created, "medium", tzinfo=ZoneInfo(ZONE), locale="pt_BR")
    assert page.inner_text("#when") == local  # the stall's zone, the attendee's format
    page.screenshot(path=str(artifact("receipt-360x740.png")), full_page=True)
    no_axe_violations(page, axe_script, "the receipt")
    page.goto(f"http://{STALL_HOST}:{port}/?error=empty")
    assert page.inner_text("#error") == "Escolha pelo menos um item."
    no_axe_violations(page, axe_script, "the menu with an error")

    page.fill("#q-dish", "1")  # cash: the pay page, then CHANGE DUE on the receipt
    page.click("text=Revisar pedido")
    page.click("button[value=cash]")
    page.wait_for_url(re.compile(r"/o/[0-9a-f]+/pay$"))
    no_axe_violations(page, axe_script, "the cash pay page")
    order_id = page.url.split("/")[-2]
    with node.client(node.pair()) as api:
        paid = api.post(f"/api/orders/{order_id}/confirm", json={"cash_received": 5000})
        assert paid.json()["accepted"], paid.text
    page.wait_for_url(re.compile(rf"/o/{order_id}$"), timeout=10_000)
    assert (
        plain(page.inner_text("#change-due")) == "TROCO\nR$ 26,00"
    )  # 50.00 for 24.00 (CSS capitals)
    due = page.locator("#change-due").bounding_box()
    assert due is not None and due["y"] + due["height"] <= PHONE["height"]
    page.screenshot(path=str(artifact("receipt-change-due.png")))
    no_axe_violations(page, axe_script, "the receipt with change due")
    context.close()


def test_a_phone_ahead_of_the_box_counts_down_without_reloading(
    stalls: dict[str, NodeProcess], browser: Any, axe_script: str
) -> None:
    node = stalls["BRL"]
    lead_s = WINDOW_S + 6  # the drop opens after the window in which we count requests
    with node.client(node.pair()) as api:
        starts = datetime.now(UTC) + timedelta(seconds=lead_s)
        drop = api.post("/api/drops", json={
            "sku": "dish", "quantity": 5, "starts_at": starts.isoformat(), "per_attendee": 2,
        }).json()  # fmt: skip
    no_js = browser.new_context(viewport=PHONE, locale="pt-BR", java_script_enabled=False)
    still = no_js.new_page()
    still.goto(node.url + f"/d/{drop['id']}")  # no script: the start time and a reload button
    assert still.locator("meta[http-equiv=refresh]").count() == 0
    assert "Abre às" in still.inner_text("#countdown")
    assert still.locator("a.button", has_text="Recarregar").is_visible()
    no_js.close()
    context = browser.new_context(viewport=PHONE, locale="pt-BR")
    context.add_init_script(SKEWED_CLOCK % int(SKEW_S * 1000))
    page = context.new_page()
    path = f"/d/{drop['id']}"
    requests: list[float] = []
    page.on("request", lambda r: requests.append(time.monotonic()) if path in r.url else None)
    page.goto(node.url + path)
    assert page.evaluate("Date.now() - performance.timeOrigin") > SKEW_S * 1000 - 5000
    local = format_time(starts, "medium", tzinfo=ZoneInfo(ZONE), locale="pt_BR")
    assert f"Abre às {local}" in page.inner_text("#countdown")  # the stall's clock, not UTC
    assert page.locator("meta[http-equiv=refresh]").count() == 0
    page.wait_for_function("document.getElementById('in').textContent.includes(':')")
    shown = page.inner_text("#in")
    minutes, seconds = shown.rsplit(" ", 1)[1].split(":")
    assert 0 < int(minutes) * 60 + int(seconds) <= lead_s, (
        shown
    )  # the box's seconds, not the phone's
    no_axe_violations(page, axe_script, "the drop countdown")
    first = requests[0]
    while time.monotonic() < first + WINDOW_S:
        page.wait_for_timeout(250)
    assert len([t for t in requests if t < first + WINDOW_S]) <= 1, requests

    page.wait_for_selector("#left", timeout=(lead_s + 10) * 1000)  # one reload, when it opens
    assert plain(page.inner_text("#left")) == "Disponíveis: 5 de 5"
    settled = len(requests)
    page.wait_for_timeout(1500)
    assert len(requests) == settled <= 2, f"{len(requests)} loads: a reload loop"
    page.click("button[data-for=q-qty][data-step='1']")
    assert page.input_value("#q-qty") == "2"
    page.screenshot(path=str(artifact("drop-open.png")), full_page=True)
    no_axe_violations(page, axe_script, "the open drop")
    context.close()
