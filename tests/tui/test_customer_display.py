"""The customer display in headless Chromium, following a console driven by Pilot.

For a phone (portrait) and a tablet (landscape): the display pairs with the code the console
shows (F12), follows a cash sale (amount, then paid with the change; the receipt printer is off,
so the console raises the printer alarm, the sale stays paid, and `p` tries again) and a Pix
sale, whose
screenshot during payment decodes with zxing-cpp to the order's payload; its display-only
token is refused by the operator API (orders, confirm, void: 401); after the node restarts
(same ports; on the phone only) the page reconnects by itself and follows the next cart.
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zxingcpp
from console_support import (
    console,
    free_port,
    init_state,
    paired_settings,
    start_stall,
    until,
)
from console_support import until_shown as until_on_console
from nodeproc import REPO, NodeProcess
from PIL import Image

from tui.screens.display_pair import DisplayPairScreen
from tui.screens.pay import PayScreen
from tui.screens.receipt import ReceiptScreen
from tui.screens.sell import SellScreen
from tui.state import ConsoleState

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("STALLBOX_ARTIFACTS", REPO / "artifacts"))
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 1024, "height": 768}}
WAIT_MS = 15_000

async_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
]


@pytest.fixture
def ports() -> tuple[int, int]:
    """Fixed ports, so the node comes back where the display looks for it."""
    return free_port(), free_port()


@pytest.fixture
def node(tmp_path: Path, ports: tuple[int, int]) -> Iterator[NodeProcess]:
    state = tmp_path / "state"
    init_state(state)
    with (state / "stallbox.toml").open("a") as config:  # a printer that is off: refused
        config.write(f'\n[printer]\ndevice = "network:127.0.0.1:{free_port()}"\n')
    running = start_stall(state, ports[1], attendee_port=ports[0])
    yield running
    if running.process.poll() is None:
        running.stop()


async def phase(page: Any, name: str) -> None:
    """Wait until the display draws `name` (idle, cart, pay, paid, pairing); say what it shows
    and what the console shows if it does not."""
    try:
        await page.wait_for_function(f"document.body.dataset.phase === {name!r}", timeout=WAIT_MS)
    except async_api.TimeoutError:
        view = await page.evaluate("() => JSON.stringify(window.stallboxView || null)")
        raise AssertionError(f"display not {name!r}: it shows {view}") from None


@pytest.mark.parametrize("device", ["phone", "tablet"])
async def test_display_pairs_follows_sales_and_survives_a_restart(
    node: NodeProcess, tmp_path: Path, device: str, ports: tuple[int, int]
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    settings = paired_settings(node, tmp_path / "console.json")
    app = console(dataclasses.replace(settings, name="till-1"))
    async with (
        async_api.async_playwright() as playwright,
        app.run_test(size=(120, 40), notifications=True) as pilot,
    ):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport=VIEWPORTS[device])
        await page.goto(node.url + "/display")
        await phase(page, "pairing")
        await until_on_console(pilot, "Pastel")

        await pilot.press("f12")  # the console shows the code for its display
        await until(
            pilot,
            lambda: isinstance(app.screen, DisplayPairScreen) and app.screen.code != "",
            "a code",
        )
        pairing = app.screen
        assert isinstance(pairing, DisplayPairScreen) and pairing.url == node.url + "/display"
        await page.fill("#code", pairing.code)
        await page.click("button[type=submit]")
        await phase(page, "idle")
        await pilot.press("escape")

        # a cash sale: the cart, the amount to pay, then paid with the change
        await pilot.press("1")
        await phase(page, "cart")
        assert "Coffee" in await page.inner_text("#lines")
        await pilot.press("enter")
        await until_on_console(pilot, "c  cash")
        await pilot.press("c")
        await phase(page, "pay")
        assert await page.inner_text("#pay-amount") == "R$ 6,00"
        assert not await page.is_visible("#qr svg")
        await pilot.press("1", "0", "enter")
        await phase(page, "paid")
        assert "R$ 4,00" in await page.inner_text("#change")
        # the receipt printer is off: the sale stands, the console raises the alarm; p reprints
        await until_on_console(pilot, "PRINTER ALARM")
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt screen")
        receipt = app.screen
        assert isinstance(receipt, ReceiptScreen) and receipt.answer.order.state == "paid"
        await pilot.press("p")
        with node.client(ConsoleState(settings.state_path).node(node.operator_url).token) as api:  # type: ignore[union-attr]
            await until(
                pilot, lambda: api.get("/api/printer").json()["failed"] == 2, "the reprint tried"
            )
            paid = api.get(f"/api/orders/{receipt.answer.order.id}").json()
            assert paid["state"] == "paid"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")

        # a Pix sale: the QR on the display is the order's payload
        await pilot.press("2")
        await phase(page, "cart")
        await pilot.press("enter")
        await until_on_console(pilot, "1  PIX (QR)")
        await pilot.press("1")
        await until(
            pilot,
            lambda: isinstance(app.screen, PayScreen) and app.screen.tendered is not None,
            "tender",
        )
        pay = app.screen
        assert isinstance(pay, PayScreen) and pay.tendered is not None
        await phase(page, "pay")
        shot = await page.screenshot()
        (ARTIFACTS / f"display-pay-{device}.png").write_bytes(shot)
        found = [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))]
        assert found == [pay.tendered.payload]
        assert await page.inner_text("#pay-ref") == pay.tendered.reference
        box = await page.locator("#qr svg").bounding_box()
        short = min(VIEWPORTS[device]["width"], VIEWPORTS[device]["height"])
        assert box is not None and box["width"] >= 0.6 * short  # as large as the screen allows
        await pilot.press("enter")
        await phase(page, "paid")

        # the display's token opens nothing of the operator API
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        token = cookies["sbd"]
        with node.client(token) as operator:
            order = pay.order.id
            for method, path in [
                ("GET", "/api/orders"), ("GET", f"/api/orders/{order}"),
                ("POST", f"/api/orders/{order}/confirm"), ("POST", f"/api/orders/{order}/void"),
            ]:  # fmt: skip
                assert operator.request(method, path, json={}).status_code == 401, path
        with httpx.Client(base_url=node.url) as phone:
            assert (
                phone.get("/display/state", headers={"Cookie": f"sbd={token}"}).status_code == 200
            )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")

        if device != "phone":  # the rest does not depend on the screen: once is enough
            await browser.close()
            return

        # the node restarts on the same ports; the page comes back by itself
        node.stop()
        await page.wait_for_selector("#offline", state="visible", timeout=WAIT_MS)
        restarted = start_stall(node.state, ports[1], attendee_port=ports[0])
        node.process, node.output = restarted.process, restarted.output
        await page.wait_for_selector("#offline", state="hidden", timeout=WAIT_MS)
        await until_on_console(pilot, "✔ node up", timeout=20)
        await pilot.press("1")
        await phase(page, "cart")
        await page.screenshot(path=str(ARTIFACTS / f"display-cart-{device}.png"))
        await browser.close()
