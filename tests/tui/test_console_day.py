"""The console's day keys against a real node: F8 restocks, F7 previews and signs the close."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_support import anyio_backend, console, paired_settings, stall, until, until_shown
from nodeproc import NodeProcess

from tui.screens.day import CloseDayScreen, RestockScreen, parse_qty
from tui.screens.sell import SellScreen
from tui.state import ConsoleState

__all__ = ["anyio_backend", "stall"]  # fixtures, used by name

pytestmark = pytest.mark.anyio


async def test_f8_restocks_and_f7_signs_the_close_with_its_report(
    stall: NodeProcess, tmp_path: Path
) -> None:
    state_file = tmp_path / "console.json"
    app = console(paired_settings(stall, state_file))
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
    pinned = ConsoleState(state_file).node(stall.operator_url)
    assert pinned is not None
    with stall.client(pinned.token) as api:
        assert api.get("/api/close").json()["from_seq"] == seq + 1  # type: ignore[operator]
        pastel = [i for i in api.get("/api/catalog").json() if i["sku"] == "pastel"]
        assert pastel[0]["stock"] == 7
        assert api.get("/api/stock-moves").json()[0]["operator"] == "console"


def test_restock_quantities() -> None:
    assert parse_qty("12") == ("add", 12) == parse_qty("+12")
    assert parse_qty(" =5 ") == ("set", 5)
    assert parse_qty("-3") is None and parse_qty("x") is None
