"""Pilot tests against a real node: arm a drop, watch a claim arrive, confirm the claimant's order
from the live orders queue, void it, and see the numbers move."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from console_support import (
    console,
    paired_settings,
    shown,
    until,
    until_shown,
)
from nodeproc import NodeProcess

from tui.screens.drops import DropsScreen
from tui.screens.orders import OrdersScreen

pytestmark = pytest.mark.anyio


async def test_a_drop_is_armed_claimed_and_its_order_confirmed(
    stall: NodeProcess, tmp_path: Path
) -> None:
    settings = replace(paired_settings(stall, tmp_path / "console.json"), ready_undo_s=0.2)
    app = console(settings)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until_shown(pilot, "Pastel")
        await pilot.press("f4")
        await until_shown(pilot, "no drops yet")
        await pilot.press("n", "enter", *"Coffee", "enter")  # picked from the menu list
        await pilot.press("5", "enter", "0", "enter")
        await until_shown(pilot, "0 claimed · 5/5 left")
        assert "OPEN" in shown(app)
        assert isinstance(app.screen, DropsScreen)
        drop_id = app.screen.drops[0].id

        # An attendee claims one unit on the drop page (a plain form post, as a phone does).
        with stall.phone() as phone:
            answer = phone.post(f"/d/{drop_id}/claim", data={"qty": "1", "tender": "cash"})
        assert answer.status_code == 303, answer.text
        await until_shown(pilot, "1 claimed · 4/5 left")

        await pilot.press("f3")
        await until_shown(pilot, "1xCoffee")
        orders = app.screen
        assert isinstance(orders, OrdersScreen)
        claimed = orders.waiting[0]
        await pilot.press("c")
        await until(
            pilot,
            lambda: not orders.waiting and [o.id for o in orders.paid] == [claimed.id],
            "the claim's order to move from waiting to paid",
        )
        row = rf"▶\s+{claimed.number}\s+{claimed.reference}\s+\d+s\s+R\$ 6,00\s+cash\s+paid"
        assert re.search(row, shown(app)), shown(app)  # marked: the only list with orders

        await pilot.press("r")  # the waiting list is empty: the paid list has the focus
        await until_shown(pilot, "READY ✔")
        page = httpx.get(f"{stall.url}/o/{claimed.id}", timeout=10).text  # the attendee's phone
        assert 'id="ready"' in page and "retire na barraca" in page
        await pilot.press("v")
        await until_shown(pilot, f"VOID order #{claimed.number} · REF {claimed.reference}")
        await pilot.press("v")
        await until_shown(pilot, "voided (receipt #")

        await pilot.press("f6")
        await until_shown(pilot, "Sales by rail (voided not counted):")
        await until_shown(pilot, "cash")
        await until_shown(pilot, "Bank-confirmed (✓) by rail:")
        assert "Top items:" in shown(app)
