"""Pilot tests of the console's global keys and forms against a real node: the demo's pairing code
is used once (F9 afterwards shows the node and the stall's page, no false "Pairing failed"); `q`
quits with nothing waiting; a drop's item is picked from the menu and a broken rule is said in
words below its field; an old outbox beside "cloud ok" gets a reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from console_support import (
    console,
    pairing_code,
    shown,
    until,
    until_shown,
)
from nodeproc import NodeProcess
from textual.widgets import Select

from appliance.api.schemas import SyncOut
from tui.app import ConsoleSettings, StallboxConsole
from tui.link import Link
from tui.screens.connect import ConnectScreen
from tui.screens.drops import DropsScreen, local_time
from tui.screens.sell import SellScreen
from tui.screens.sync import outbox_reason

pytestmark = pytest.mark.anyio


async def test_f9_after_pairing_with_the_demo_code_shows_the_stall_page_and_no_error(
    stall: NodeProcess, tmp_path: Path
) -> None:
    settings = ConsoleSettings(
        node_url=stall.operator_url,
        state_path=tmp_path / "console.json",
        poll_s=0.3,
        pair_code=pairing_code(stall),  # as the demo starts it
    )
    app = console(settings)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "paired with the code")
        await until_shown(pilot, "✔ node up")
        await pilot.press("f9")
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen), "the node screen")
        await until_shown(pilot, f"Stall page for phones: {stall.url}/")
        await pilot.pause(0.5)  # a second pairing with the spent code would fail by now
        assert "Pairing failed" not in shown(app)
        assert f"Connected to {stall.operator_url}" in shown(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "back to selling")
        await pilot.press("q")  # nothing waits: quits at once, as the README says
        await until(pilot, lambda: app.return_code == 0, "the console quit")


async def test_a_drop_item_is_picked_from_the_menu_and_rules_are_said_below_the_field(
    app: StallboxConsole,
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(pilot, "Pastel")
        await pilot.press("f4")
        drops = app.screen
        assert isinstance(drops, DropsScreen)
        await until_shown(pilot, "menu item")
        await pilot.press("n", "tab", "tab", "enter")  # no item, no units: Enter on the last field
        await until_shown(pilot, "Item: pick one from the menu list.")
        assert "Units: a whole number from 1 to 100000." in shown(app)
        assert "regex" not in shown(app) and "sku" not in shown(app).lower()
        await pilot.press("escape", "n", "enter", *"Pastel", "enter")
        await until(pilot, lambda: drops.query_one("#drop-item", Select).value == "pastel", "item")
        await pilot.press("0", "enter", "1", "enter")  # 0 units
        await until_shown(pilot, "Units: a whole number from 1 to 100000.")
        assert "Item: pick one" not in shown(app)
        await pilot.press("shift+tab", "end", "backspace", "3", "tab", "enter")
        await until_shown(pilot, "0 claimed · 3/3 left")
        starts = datetime.now().astimezone() + timedelta(minutes=1)
        clock = {starts.strftime("%H:%M"), (starts - timedelta(minutes=1)).strftime("%H:%M")}
        assert any(f"{c} · in " in shown(app) for c in clock), "local time beside the countdown"
        assert "Units: a whole" not in shown(app)


def test_an_old_outbox_beside_cloud_ok_gets_a_reason() -> None:
    now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    link = Link(url="x", node="up", cloud="reachable", outbox_depth=3, oldest_unsynced_s=88.0)

    def sync(contact_s: float | None) -> SyncOut:
        contact = None if contact_s is None else (now - timedelta(seconds=contact_s)).isoformat()
        return SyncOut(3, 88.0, 10, 10, 11, "cp", contact, None, None, None)

    assert "before these receipts" in outbox_reason(link, sync(200.0), now)
    assert "has not acknowledged" in outbox_reason(link, sync(5.0), now)
    assert "has not reached the cloud yet" in outbox_reason(link, sync(None), now)
    fresh = Link(url="x", node="up", cloud="reachable", outbox_depth=3, oldest_unsynced_s=4.0)
    assert outbox_reason(fresh, sync(5.0), now) == ""  # a young outbox needs no reason


def test_drop_times_are_in_the_stall_s_zone_not_the_console_s() -> None:
    """The node reports `[stall] timezone`; the console writes start times in it."""
    starts = "2026-01-15T21:09:00+00:00"
    assert local_time(starts, ZoneInfo("America/Sao_Paulo")) == "15 Jan 18:09"
    assert local_time(starts, ZoneInfo("Asia/Kolkata")) == "16 Jan 02:39"
