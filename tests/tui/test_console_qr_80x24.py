"""At 80x24 the pay step's QR is whole and scannable for every rail: the console's own SVG
screenshot, rasterised with cairosvg, decodes (zxing-cpp) to the order's payload.

The payloads are built by the real rail code (appliance/payments) from the configurations of
tests/payments/test_rails.py, at realistic lengths: EMVCo Pix codes with a phone and an e-mail
key (the latter fits only as the shortest mix of QR modes: appliance/payments/segments.py), a UPI
link, an EPC069-12 SEPA code with a BIC and a structured RF reference, a PromptPay and a PayNow
code, each for 1026.00 with a 4-character order reference. The node is a MockTransport (the
client's test seam) answering the tender with that payload, so the five rails need no five nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import zxingcpp
from console_support import console, screenshot_png, shown, until
from textual.pilot import Pilot
from textual.widgets import Digits

from appliance.api.schemas import LineOut, OrderOut, StatsOut, TenderOut
from appliance.domain.money import Money
from appliance.payments.config import (
    PayNowRail,
    PixRail,
    PromptPayRail,
    RailConfig,
    SepaRail,
    UpiRail,
)
from appliance.payments.rails import payload
from appliance.payments.reference import order_reference
from tui.app import ConsoleSettings, StallboxConsole
from tui.client import NodeClient
from tui.link import Link
from tui.screens.pay import PayScreen
from tui.widgets.qr import QrCode, fit_lines, levels_for

pytestmark = pytest.mark.anyio

NODE = "https://node.test"
TOTAL = 102600
RAILS: dict[str, tuple[RailConfig, str]] = {
    "pix": (PixRail(key="+5511999998888", merchant="PASTELARIA DEMO", city="SAO PAULO"), "BRL"),
    "pix-email": (
        PixRail(key="demo@stallbox.example", merchant="PASTELARIA DEMO", city="SAO PAULO"),
        "BRL",
    ),
    "upi": (UpiRail(vpa="chai.corner@okbank", payee="Chai Corner"), "INR"),
    "epc": (
        SepaRail(name="Crêperie Lüneburg", iban="DE33100205000001194700", bic="COBADEFFXXX"),
        "EUR",
    ),
    "promptpay": (PromptPayRail(id="0812345678"), "THB"),
    "paynow": (PayNowRail(proxy="201912345K", merchant="HAWKER PTE", editable=True), "SGD"),
}


def order_for(currency: str, reference: str) -> OrderOut:
    """A waiting order of two items."""
    lines = [LineOut("pastel", "Pastel", 2, 51300, TOTAL)]
    return OrderOut(
        "o-1", 7, "awaiting_payment", currency, TOTAL, "1026.00", lines, None, reference, "",
        "2026-12-04T18:00:00+00:00",
    )  # fmt: skip


def mock_node(tendered: TenderOut) -> httpx.MockTransport:
    """Answers the tender with `tendered`; anything else is a 404."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/tender"):
            return httpx.Response(200, content=msgspec.json.encode(tendered))
        return httpx.Response(404, json={"error": "not here"})

    return httpx.MockTransport(answer)


def stats(currency: str) -> StatsOut:
    """What the node's stats would say: its locale and the stall's page."""
    return StatsOut(
        0, 0, currency, 0.0, None, 0, None, 0, 0, None, locale="en", stall_url="http://stall.test/"
    )


async def open_pay(pilot: Pilot[Any], app: StallboxConsole, rail: str, text: str) -> PayScreen:
    """Attach the mock node answering the tender with `text`, and open the pay step of `rail`."""
    currency = RAILS[rail][1]
    order = order_for(currency, order_reference(1234))
    app.client = NodeClient(
        NODE, "token", transport=mock_node(TenderOut(order, order.reference, text))
    )
    app.link = Link(url=NODE, node="up")
    app.stats = stats(currency)
    app.pop_screen()  # the connect screen (no token stored)
    pay = PayScreen(order, rail.split("-")[0])
    app.push_screen(pay)
    await until(pilot, lambda: pay.tendered is not None, "the tender's answer")
    return pay


def text_for(rail: str) -> str:
    """The rail's payload for the order, from the real rail code."""
    config, currency = RAILS[rail]
    return payload(config, Money(TOTAL, currency), order_reference(1234), currency)


@pytest.mark.parametrize("rail", sorted(RAILS))
async def test_the_pay_step_at_80x24_shows_a_code_that_decodes(rail: str, tmp_path: Path) -> None:
    expected = text_for(rail)
    app = console(ConsoleSettings(node_url=NODE, state_path=tmp_path / "console.json"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        pay = await open_pay(pilot, app, rail, expected)
        code = pay.query_one("#pay-qr", QrCode)
        await until(pilot, lambda: code.fits, "the code drawn whole", timeout=5)
        screen = shown(app)
        assert f"REF {pay.order.reference}" in screen, screen
        assert pay.query_one("#pay-amount", Digits).value == "1,026.00"  # as "en" writes it
        if pay.has_class("whole-screen"):  # no footer then: the keys are beside the code
            assert "Enter: paid" in screen
        found = zxingcpp.read_barcodes(screenshot_png(app, keep=f"console-pay-80x24-{rail}.png"))
        assert [code.text for code in found] == [expected]


def test_an_epc_code_stays_at_level_m_and_others_may_go_down_to_l() -> None:
    epc, _ = RAILS["epc"]
    text = payload(epc, Money(TOTAL, "EUR"), order_reference(1234), "EUR")
    assert levels_for(text) == ("M",)  # EPC069-12 fixes the level
    assert levels_for("upi://pay?pa=a@b") == ("H", "Q", "M", "L")
    where, lines = fit_lines("00020101021229370016A0000006770101110113", "half", ((80, 21),))
    assert where == 0 and len(lines) <= 21


async def test_a_code_too_large_for_80x24_says_where_else_to_scan(tmp_path: Path) -> None:
    long_pix = PixRail(
        key="123e4567-e12b-12d1-a456-426655440000",  # a random (EVP) key and a long name: V6 at L
        merchant="PASTELARIA DA ANA LTDA",
        city="SAO PAULO",
        description="Feira",
    )
    text = payload(long_pix, Money(TOTAL, "BRL"), order_reference(1234), "BRL")
    app = console(ConsoleSettings(node_url=NODE, state_path=tmp_path / "console.json"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_pay(pilot, app, "pix", text)
        await until(pilot, lambda: "http://stall.test/" in shown(app), "where else to scan")
        assert "QR needs 49x25 cells" in shown(app)
