"""The pay step draws the code the node built at tender time (the answer's `qr`, asked for with
?qr=): at 80x24, for every rail, the console's own screenshot decodes (zxing-cpp) to exactly the
payload, and the console built no code itself. A malformed `qr` is not drawn: the console builds
the code as it does for an older node (tests/tui/test_console_qr_80x24.py covers that path).

The node is a MockTransport answering the tender with the real node's builder
(appliance/api/operator/tender_qr.py) for the sides the console asked, so five rails need no five nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import zxingcpp
from console_support import console, screenshot_png, until
from test_console_qr_80x24 import NODE, RAILS, order_for, stats, text_for

from appliance.api.operator.tender_qr import asked_sides, qr_out
from appliance.api.schemas import QrOut, TenderOut
from appliance.payments.reference import order_reference
from tui.app import ConsoleSettings
from tui.client import NodeClient
from tui.link import Link
from tui.screens import pay as pay_module
from tui.screens.pay import PayScreen
from tui.widgets.qr import QrCode, node_lines

pytestmark = pytest.mark.anyio


def building_node(rail: str, text: str, asked: list[tuple[int, ...] | None]) -> httpx.MockTransport:
    """Answers the tender like the node: the payload, and its code for the sides asked."""
    order = order_for(RAILS[rail][1], order_reference(1234))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/tender"):
            sides = asked_sides(request.url.params.get("qr"))
            asked.append(sides)
            qr = None if sides is None else qr_out(text, sides)
            return httpx.Response(
                200, content=msgspec.json.encode(TenderOut(order, order.reference, text, qr))
            )
        return httpx.Response(404, json={"error": "not here"})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("rail", sorted(RAILS))
async def test_the_code_the_node_built_is_drawn_and_decodes(
    rail: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_building_here(*_: Any) -> None:
        raise AssertionError("the console built a code the node had sent")

    monkeypatch.setattr(pay_module, "fit_lines", no_building_here)
    expected, asked = text_for(rail), list[tuple[int, ...] | None]()
    app = console(ConsoleSettings(node_url=NODE, state_path=tmp_path / "console.json"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.client = NodeClient(NODE, "token", transport=building_node(rail, expected, asked))
        app.link = Link(url=NODE, node="up")
        app.stats = stats(RAILS[rail][1])
        app.pop_screen()  # the connect screen (no token stored)
        order = order_for(RAILS[rail][1], order_reference(1234))
        pay = PayScreen(order, rail.split("-")[0])
        app.push_screen(pay)
        await until(pilot, lambda: pay.tendered is not None, "the tender's answer")
        assert asked == [(42, 46)]  # 80x24: 46 columns beside the panel; 21 or 24 lines
        assert pay.tendered is not None and pay.tendered.qr is not None
        code = pay.query_one("#pay-qr", QrCode)
        await until(pilot, lambda: code.painted == expected or code.has_class("too-small"), "drawn")
        if code.has_class("too-small"):  # as for a code built here: says where else to scan
            assert pay.tendered.qr.fit == -1
            return
        found = zxingcpp.read_barcodes(screenshot_png(app, keep=f"console-node-qr-{rail}.png"))
        assert [found.text for found in found] == [expected]


def test_a_malformed_code_from_the_node_is_not_drawn() -> None:
    good = qr_out("upi://pay?pa=a@b", (99,))
    assert node_lines(good, "half", 1) is not None
    for bad in (
        QrOut(good.level, good.fit, good.size, good.rows[:-1]),  # a row short
        QrOut(good.level, good.fit, good.size, ["zz" * len(good.rows[0])] * good.size),  # not hex
        QrOut(good.level, 3, good.size, good.rows),  # an area that was not asked
        QrOut(good.level, good.fit, 12, good.rows[:12]),  # smaller than any QR symbol
    ):
        assert node_lines(bad, "half", 1) is None
