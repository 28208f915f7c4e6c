"""Pilot tests of the orders queue against a real node: the marked row is the one acted on, keys
act only on the focused list, void and cancel name the order and ask once, ready can be undone,
the attendee's note and the order's age are shown, a reference search leads to a confirmation;
and the numbers count a voided sale apart, never as a sale.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
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
from tui.screens.confirm import ConfirmAction
from tui.screens.orders import MARK, OrdersScreen

pytestmark = pytest.mark.anyio


def waiting_order(client: httpx.Client, note: str = "") -> dict[str, Any]:
    """An order of one coffee, tendered in cash: waiting for payment."""
    order = client.post("/api/orders", json={"note": note, "lines": [{"sku": "coffee"}]})
    assert order.status_code in (200, 201), order.text
    tendered = client.post(f"/api/orders/{order.json()['id']}/tender", json={"tender": "cash"})
    assert tendered.status_code == 200, tendered.text
    return dict(tendered.json()["order"])


def paid_order(client: httpx.Client) -> dict[str, Any]:
    """An order of one coffee, paid in cash."""
    order = waiting_order(client)
    confirmed = client.post(f"/api/orders/{order['id']}/confirm", json={})
    assert confirmed.status_code == 200 and confirmed.json()["accepted"], confirmed.text
    return dict(confirmed.json()["order"])


def marked_line(app: StallboxConsole) -> str:
    """The one screen line that carries the ▶ mark."""
    lines = [line for line in shown(app).splitlines() if MARK in line]
    assert len(lines) == 1, f"exactly one marked row:\n{shown(app)}"
    return lines[0]


async def test_down_then_v_voids_the_marked_order_after_asking(
    stall: NodeProcess, app: StallboxConsole
) -> None:
    with node_api(stall, app.settings.state_path) as client:
        for waiting in client.get("/api/orders").json():  # the waiting list is empty
            client.post(f"/api/orders/{waiting['id']}/cancel")
        older, newer = paid_order(client), paid_order(client)
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await until_shown(pilot, "Coffee")
            await pilot.press("f3")
            orders = app.screen
            assert isinstance(orders, OrdersScreen)
            await until(pilot, lambda: newer["reference"] in shown(app), "the paid orders")
            await until(pilot, lambda: MARK in shown(app), "a marked row")
            assert newer["reference"] in marked_line(app)  # the paid list took the focus
            await pilot.press("down")
            await until(pilot, lambda: older["reference"] in marked_line(app), "the mark moved")

            await pilot.press("v")  # asks, naming the order
            await until(pilot, lambda: isinstance(app.screen, ConfirmAction), "the question")
            assert f"VOID order #{older['number']} · REF {older['reference']}" in shown(app)
            await pilot.press("escape")  # kept
            await until(pilot, lambda: app.screen is orders, "back to the orders")
            assert client.get(f"/api/orders/{older['id']}").json()["state"] == "paid"

            await pilot.press("v", "v")  # asked and confirmed with the same key
            await until_shown(pilot, f"Order #{older['number']} voided")
            assert client.get(f"/api/orders/{older['id']}").json()["state"] == "voided"
            assert client.get(f"/api/orders/{newer['id']}").json()["state"] == "paid"

            # Numbers: the voided sale is counted apart, never as a sale
            stats = client.get("/api/stats").json()
            await pilot.press("f6")
            await until_shown(pilot, f"{stats['sales']} sales")
            await until_shown(pilot, f"voided {stats['voided']}")
            assert stats["voided"] >= 1 and stats["locale"] == "pt-BR"
            paid = client.get("/api/orders?state=paid").json()
            assert stats["sales"] == len(paid)  # one definition: paid and not voided
            assert stats["revenue"] == sum(o["total"] for o in paid)
            await until(pilot, lambda: re.search(rf"cash\s+{len(paid)}\b", shown(app)) is not None,
                        "sales by rail, voided not counted")  # fmt: skip


async def test_keys_act_on_the_focused_list_note_age_search_and_ready_undo(
    stall: NodeProcess, tmp_path: Path
) -> None:
    state_file = tmp_path / "console.json"
    settings = replace(paired_settings(stall, state_file), ready_undo_s=0.5)
    app = console(settings)
    with node_api(stall, state_file) as client:
        paid = paid_order(client)
        other = waiting_order(client)
        noted = waiting_order(client, note="sem cebola, por favor")
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await until_shown(pilot, "Coffee")
            await pilot.press("f3")
            orders = app.screen
            assert isinstance(orders, OrdersScreen)
            await until(pilot, lambda: noted["reference"] in shown(app), "the waiting orders")
            row = re.search(rf"{noted['reference']}\s+(\d+)s\s+R\$ [\d,]+\s+✎ 1xCoffee", shown(app))
            assert row is not None, shown(app)  # its age, and ✎ for the note

            # v on the waiting list: it says where v acts, and asks nothing
            await pilot.press("v")
            await until_shown(pilot, "v acts on the Paid list: Tab to it.")
            assert isinstance(app.screen, OrdersScreen)

            # search by reference, Enter marks it, c confirms it
            await pilot.press("slash", *noted["reference"].lower(), "enter")
            await until(pilot, lambda: noted["reference"] in marked_line(app), "the found order")
            assert other["reference"] not in shown(app)
            assert "Note: sem cebola, por favor" in shown(app)  # the note, in full
            await pilot.press("c")
            await until(
                pilot,
                lambda: client.get(f"/api/orders/{noted['id']}").json()["state"] == "paid",
                "the found order confirmed",
            )
            assert client.get(f"/api/orders/{other['id']}").json()["state"] == "awaiting_payment"

            # ready, then undo before it is sent: the node never hears of it
            await pilot.press("escape")  # search cleared: every order again
            await until(pilot, lambda: other["reference"] in shown(app), "all orders again")
            await pilot.press("tab")
            await until(pilot, lambda: any(o.id == paid["id"] for o in orders.paid), "paid list")
            while orders.paid[orders.query_one("#paid").cursor_row].id != paid["id"]:  # type: ignore[attr-defined]
                await pilot.press("down")
            await pilot.press("r")
            await until_shown(pilot, "READY… u: undo")
            await pilot.press("u")
            await until_shown(pilot, "ready undone")
            await pilot.pause(settings.ready_undo_s * 2)  # past the undo time
            assert client.get(f"/api/orders/{paid['id']}").json()["ready_at"] is None
            await pilot.press("r")  # and this time let it go
            await until(
                pilot,
                lambda: client.get(f"/api/orders/{paid['id']}").json()["ready_at"] is not None,
                "ready sent after the undo time",
            )
            await until_shown(pilot, "READY ✔")


async def test_an_attendees_note_is_shown_as_text_never_as_markup(
    stall: NodeProcess, tmp_path: Path
) -> None:
    # The note is the one free text an attendee types (the attendee form, plain HTTP): a closing
    # tag with no opening one raised MarkupError and took the vendor's console down when the
    # order was marked, and [@click=...] made a clickable console action.
    state_file = tmp_path / "console.json"
    app = console(paired_settings(stall, state_file))
    note = "[/bold] [@click=app.quit]PAID[/] [link=http://x.example]y[/link]"
    with stall.phone() as phone:
        placed = phone.post("/order", data={"coffee": "1", "tender": "cash", "note": note})
    assert placed.status_code == 303, placed.text
    with node_api(stall, state_file) as client:
        order = client.get(f"/api/orders/{placed.headers['location'].split('/')[2]}").json()
        async with app.run_test(size=(120, 30), notifications=True) as pilot:
            await until_shown(pilot, "Coffee")
            await pilot.press("f3")
            await until(pilot, lambda: order["reference"] in shown(app), "the waiting orders")
            await pilot.press("slash", *order["reference"].lower(), "enter")
            await until(pilot, lambda: order["reference"] in marked_line(app), "the found order")
            assert f"Note: {note}" in shown(app)  # every bracket as typed
            assert app.is_running
