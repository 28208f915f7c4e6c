"""The sell screen keeps one pay screen and refills it for each sale (tui/screens/pay.py): a
second and third sale on the same screen show their own order, tender and code, nothing left
of the sale before. Against a real node; each code is decoded (zxing-cpp) off the console's
own screenshot, rasterised with cairosvg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import zxingcpp
from console_support import (
    console,
    screenshot_png,
    shown,
    until,
    until_shown,
)
from test_console_qr_80x24 import NODE, order_for, stats
from textual.pilot import Pilot

from appliance.api.schemas import TenderOut
from appliance.payments.reference import order_reference
from tui.app import ConsoleSettings, StallboxConsole
from tui.client import NodeClient
from tui.link import Link
from tui.screens.confirm import ConfirmAction
from tui.screens.pay import PayScreen
from tui.screens.sell import SellScreen
from tui.widgets.qr import QrCode

pytestmark = pytest.mark.anyio


async def tender(pilot: Pilot[Any], app: StallboxConsole, key: str) -> PayScreen:
    """Enter on the cart, `key` on the tender dialog; the pay screen once the node answered."""
    await pilot.press("enter")
    await until_shown(pilot, "1  PIX (QR)")
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
    pay = app.screen
    assert isinstance(pay, PayScreen)
    # Never an earlier sale's code: none until the node answers this tender.
    code = pay.query_one("#pay-qr", QrCode)
    assert code.payload is None or (pay.tendered and code.payload == pay.tendered.payload)
    await until(pilot, lambda: pay.tendered is not None, "the node's answer to the tender")
    assert isinstance(pay, PayScreen) and pay.tendered is not None
    await until_shown(pilot, f"REF {pay.tendered.reference}")
    return pay


async def cancel(pilot: Pilot[Any], app: StallboxConsole, asks: bool = False) -> None:
    """Esc: the order is cancelled, the cart kept; with a code shown, once `x` answers the question."""
    await pilot.press("escape")
    if asks:
        await until(pilot, lambda: isinstance(app.screen, ConfirmAction), "the question")
        await pilot.press("x")
    await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")


async def decoded(pilot: Pilot[Any], app: StallboxConsole, pay: PayScreen) -> list[str]:
    """The codes on the screen once this sale's code is painted."""
    code = pay.query_one("#pay-qr", QrCode)
    assert pay.tendered is not None
    payload = pay.tendered.payload
    await until(pilot, lambda: code.painted == payload, "the code painted")
    return [found.text for found in zxingcpp.read_barcodes(screenshot_png(app))]


async def test_one_pay_screen_is_refilled_for_each_sale(app: StallboxConsole) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(pilot, "Pastel")
        await pilot.press("2")
        first = await tender(pilot, app, "1")
        assert first.tendered is not None and first.tendered.payload
        reference, payload = first.tendered.reference, first.tendered.payload
        assert await decoded(pilot, app, first) == [payload]
        await pilot.press("escape")  # the payer may be paying this code: asked, and kept
        await until(pilot, lambda: isinstance(app.screen, ConfirmAction), "the question")
        assert f"Cancel order #{first.order.number} (REF {reference})?" in shown(app)
        await pilot.press("n")
        await until(pilot, lambda: app.screen is first, "the pay screen again")
        assert app.client is not None
        assert (await app.client.order(first.order.id)).state == "awaiting_payment"
        await cancel(pilot, app, asks=True)

        cash = await tender(pilot, app, "c")  # cash on the same screen: no code, the calculator
        assert cash is first
        assert not cash.query_one("#pay-qr", QrCode).display
        await pilot.press("2", "0")
        await until_shown(pilot, "CHANGE DUE")
        assert zxingcpp.read_barcodes(screenshot_png(app)) == []
        await cancel(pilot, app)

        again = await tender(pilot, app, "1")  # a rail again: this order's code, no cash left
        assert again is first and again.tendered is not None and again.tendered.payload
        assert again.tendered.reference != reference and again.tendered.payload != payload
        assert await decoded(pilot, app, again) == [again.tendered.payload]
        screen = shown(app)
        assert "CHANGE DUE" not in screen and "cash received" not in screen
        assert f"Order #{again.order.number} · PIX" in screen
        assert again.focused is None  # the cash field, hidden, takes no keys from this sale
        await pilot.press("enter")
        await until_shown(pilot, "✔ PAID")


async def test_a_larger_code_on_the_kept_screen_is_drawn_not_judged_by_the_last_size(
    tmp_path: Path,
) -> None:
    """The kept QR widget has the last code's size until laid out again: a larger code must be
    laid out and drawn, not called too small for the room the smaller one took."""
    small, large = "upi://pay?pa=a@b", "upi://pay?pa=chai.corner@okbank&pn=Chai%20Corner" * 2
    answers = [small, large]
    order = order_for("INR", order_reference(1234))

    def node(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tender"):
            text = answers.pop(0)
            return httpx.Response(
                200, content=msgspec.json.encode(TenderOut(order, order.reference, text))
            )
        return httpx.Response(200, content=msgspec.json.encode(order))  # the cancel

    app = console(ConsoleSettings(node_url=NODE, state_path=tmp_path / "console.json"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.client = NodeClient(NODE, "token", transport=httpx.MockTransport(node))
        app.link = Link(url=NODE, node="up")
        app.stats = stats("INR")
        app.pop_screen()  # the connect screen (no token stored)
        pay = PayScreen(order, "upi")
        app.install_screen(pay, "pay")

        async def sell(text: str) -> None:
            app.push_screen(pay)
            await until(pilot, lambda: pay.is_active and pay.tendered is not None, "the answer")
            code = pay.query_one("#pay-qr", QrCode)
            await until(pilot, lambda: code.painted == text, "the code painted", timeout=10)
            assert not code.has_class("too-small")
            assert [f.text for f in zxingcpp.read_barcodes(screenshot_png(app))] == [text]
            await pilot.press("escape", "y")  # asked, then cancelled: back to the screen below
            await until(pilot, lambda: not pay.is_active, "the pay screen dismissed")

        await sell(small)
        pay.refill(order, "upi")
        await sell(large)
