"""The console's day keys against a real node: F8 restocks, F7 previews and signs the close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from console_support import (
    console,
    node_api,
    paired_settings,
    shown,
    until,
    until_shown,
)
from nodeproc import NodeProcess

from tui.app import StallboxConsole
from tui.screens.clock import ClockScreen
from tui.screens.confirm import ConfirmAction
from tui.screens.day import CloseDayScreen, RestockScreen, parse_qty
from tui.screens.sell import SellScreen

pytestmark = pytest.mark.anyio


async def test_f8_restocks_and_f7_signs_the_close_with_its_report(
    stall: NodeProcess, app: StallboxConsole
) -> None:
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")
        await until_shown(pilot, "✔ node up")
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, RestockScreen), "the restock dialog")
        await pilot.press(*"pastel", "enter", "=", "7", "enter")
        await until_shown(pilot, "Pastel: stock now 7")
        await pilot.press("escape")
        await pilot.press("f7")
        await until(pilot, lambda: isinstance(app.screen, CloseDayScreen), "the close dialog")
        await until_shown(pilot, "open period (not closed)")
        await until_shown(pilot, "cash expected in the drawer")
        await pilot.press("enter")
        await until_shown(pilot, "Closed and signed")
        screen = app.screen
        assert isinstance(screen, CloseDayScreen) and screen.report is not None
        seq = screen.report.seq
    with node_api(stall, app.settings.state_path) as api:
        assert api.get("/api/close").json()["from_seq"] == seq + 1  # type: ignore[operator]
        pastel = [i for i in api.get("/api/catalog").json() if i["sku"] == "pastel"]
        assert pastel[0]["stock"] == 7
        assert api.get("/api/stock-moves").json()[0]["operator"] == "console"


async def test_a_box_clock_behind_raises_an_alarm_and_f10_sets_it_from_the_console(
    stall: NodeProcess, tmp_path: Path
) -> None:
    state_file = tmp_path / "console.json"
    settings = paired_settings(stall, state_file)
    with node_api(stall, state_file) as api:  # a sale now, then the box's clock 3 h behind it
        order = api.post("/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]}).json()
        api.post(f"/api/orders/{order['id']}/tender", json={"tender": "cash"})
        assert api.post(f"/api/orders/{order['id']}/confirm", json={}).status_code == 200
        behind = (datetime.now(UTC) - timedelta(hours=3)).isoformat(timespec="seconds")
        assert api.post("/api/clock", json={"now": behind}).json()["alarm"]
    app = console(settings)
    async with app.run_test(size=(110, 36)) as pilot:
        await until(pilot, lambda: app.clock_alarm_shown is not None, "the clock alarm")
        assert "behind the last receipt" in (app.clock_alarm_shown or "")
        await pilot.press("f10")
        await until(pilot, lambda: isinstance(app.screen, ClockScreen), "the clock dialog")
        await until_shown(pilot, "⚠")
        await pilot.press("enter")  # set from this device's clock: 3 h ahead of the box's, asked
        await until(pilot, lambda: isinstance(app.screen, ConfirmAction), "the question")
        question = app.screen
        assert isinstance(question, ConfirmAction) and "clock +10" in question.question  # ~3 h
        await pilot.press("n")  # kept: nothing sent
        await until(pilot, lambda: isinstance(app.screen, ClockScreen), "the clock dialog")
        with node_api(stall, state_file) as api:
            assert api.get("/api/clock").json()["alarm"]
        await pilot.press("enter", "s")
        await until(pilot, lambda: "⚠" not in shown(app), "the alarm to clear")
        await until_shown(pilot, "Box time")
    with node_api(stall, state_file) as api:
        clock = api.get("/api/clock").json()
        assert clock["alarm"] is None and abs(clock["offset_s"]) < 60


def test_restock_quantities() -> None:
    assert parse_qty("12") == ("add", 12) == parse_qty("+12")
    assert parse_qty(" =5 ") == ("set", 5)
    assert parse_qty("-3") is None and parse_qty("x") is None
