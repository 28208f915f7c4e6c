"""Pilot tests against a real node: pairing, a Pix sale whose on-screen QR decodes, cash with
change due, a policy refusal at tender with its override, and the changed-fingerprint warning."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import zxingcpp
from console_support import (
    coffee_in_cash,
    console,
    node_api,
    pairing_code,
    pick,
    screenshot_png,
    shown,
    until,
    until_shown,
)
from nodeproc import NodeProcess
from textual.widgets import Digits

from appliance.config import load_config
from appliance.domain.money import Money
from appliance.payments.registry import RailRegistry
from tui.app import ConsoleSettings, StallboxConsole
from tui.screens.connect import ConnectScreen, KeyChangedScreen
from tui.screens.pay import PayScreen
from tui.screens.receipt import ReceiptScreen
from tui.screens.sell import SellScreen
from tui.state import ConsoleState

pytestmark = pytest.mark.anyio


async def test_first_contact_pairs_with_the_code_and_pins_the_key(
    stall: NodeProcess, tmp_path: Path
) -> None:
    state_file = tmp_path / "console.json"
    app = console(ConsoleSettings(node_url=stall.operator_url, state_path=state_file, poll_s=0.3))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen), "the connect screen")
        await pilot.press(*pairing_code(stall), "enter")
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")
        await until_shown(pilot, "Pastel")
        await until_shown(pilot, "✔ node up")
    saved = ConsoleState(state_file).node(stall.operator_url)
    assert saved is not None and saved.token and saved.fingerprint.startswith("SHA256:")
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


async def test_a_pix_sale_shows_a_qr_that_decodes_to_the_payload(
    stall: NodeProcess, app: StallboxConsole
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(pilot, "Pastel")
        await pilot.press("2", "2", "1")  # two pastels, one coffee
        await until_shown(pilot, "2 x Pastel")
        await pilot.press("enter")
        await until_shown(pilot, "1  PIX (QR)")
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
        pay = app.screen
        assert isinstance(pay, PayScreen)
        await until(pilot, lambda: pay.tendered is not None, "the node's answer to the tender")
        assert pay.tendered is not None
        reference = pay.tendered.reference
        await until_shown(pilot, f"REF {reference}")
        assert "Order #" in shown(app) and "PIX" in shown(app)

        found = zxingcpp.read_barcodes(screenshot_png(app, keep="console-pay.png"))
        assert len(found) == 1, "exactly one QR code on the pay screen"
        config = load_config(stall.state / "stallbox.toml")
        total = pay.order.total
        expected = RailRegistry.from_config(config.rails, "BRL").payload(
            "pix", Money(total, "BRL"), reference
        )
        assert found[0].text == expected == pay.tendered.payload

        await pilot.press("enter")
        await until_shown(pilot, "✔ PAID")
        assert "receipt #" in shown(app)
        await until_shown(pilot, "The attendee can photograph the receipt code")  # 120x40: shown
        assert "accept" in shown(app)
    with node_api(stall, app.settings.state_path) as client:
        order = client.get(f"/api/orders/{pay.order.id}").json()
    assert order["state"] == "paid" and order["total"] == total


async def test_cash_sale_shows_change_due_at_80x24(
    stall: NodeProcess, app: StallboxConsole
) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await coffee_in_cash(pilot)
        await pilot.press("1", "0")
        await until_shown(pilot, "CHANGE DUE R$ 4,00")
        await pilot.press("enter")
        await until_shown(pilot, "✔ PAID")
        assert "cash in hand" in shown(app)
        # The change is repeated, large, on the receipt screen
        assert "CHANGE DUE R$ 4,00" in shown(app)
        assert app.screen.query_one("#receipt-change-digits", Digits).value == "4,00"
        # and 80x24 has no room for the receipt's code: it is not promised
        await until_shown(pilot, "Receipt signed and kept on the node")
        assert "photograph" not in shown(app)
        paid = app.screen
        assert isinstance(paid, ReceiptScreen)
        with stall.phone() as phone:  # the console sent what was handed over: the page shows it too
            page = phone.get(f"/o/{paid.answer.order.id}", headers={"Accept-Language": "en"}).text
        assert "<span>Change due</span> <strong>R$4.00</strong>" in page
        await pilot.press("enter")
        await until_shown(pilot, "Cart is empty")


async def test_a_refused_rail_sale_can_be_overridden_with_a_reason(app: StallboxConsole) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(pilot, "Pastel")
        await pilot.press(*"222222")  # 6 pastels: above the 50.00 Pix per-sale limit
        await pilot.press("enter")
        await until_shown(pilot, "1  PIX")
        assert "over the offline limit" in shown(app)  # the node offers only cash for this
        await pilot.press("1")
        await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
        await until_shown(pilot, "REFUSED by the offline policy")  # at tender: no QR shown
        assert "REF 0" not in shown(app)
        await pilot.press("enter")  # nothing to confirm until an override
        assert "REFUSED" in shown(app)
        await pilot.press("o", *"regular customer", "enter")
        await until_shown(pilot, "REF 0")  # the override is recorded, then the QR shown
        await pilot.press("enter")
        await until_shown(pilot, "✔ PAID")
        assert "override" in shown(app)


async def test_a_changed_fingerprint_is_a_loud_warning_needing_confirmation(
    stall: NodeProcess, tmp_path: Path
) -> None:
    state_file = tmp_path / "console.json"
    fake = "SHA256:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000"
    ConsoleState(state_file).pin(stall.operator_url, "old-node", fake, None)
    app = console(ConsoleSettings(node_url=stall.operator_url, state_path=state_file, poll_s=0.3))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConnectScreen), "the connect screen")
        await pilot.press(*pairing_code(stall), "enter")
        await until(pilot, lambda: isinstance(app.screen, KeyChangedScreen), "the warning")
        assert "THE NODE'S KEY HAS CHANGED" in shown(app)
        await pilot.press("escape")
        await until_shown(pilot, "not trusted")
        pinned = ConsoleState(state_file).node(stall.operator_url)
        assert pinned is not None and pinned.fingerprint == fake and pinned.token is None

        await pilot.press(*pairing_code(stall), "enter")
        await until(pilot, lambda: isinstance(app.screen, KeyChangedScreen), "the warning again")
        await pilot.press(*"trust", "enter")
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")
    pinned = ConsoleState(state_file).node(stall.operator_url)
    assert pinned is not None and pinned.fingerprint != fake and pinned.token


async def test_without_a_url_the_console_finds_the_node_over_mdns(
    stall: NodeProcess, tmp_path: Path
) -> None:
    settings = ConsoleSettings(
        state_path=tmp_path / "console.json", interfaces="loopback", discover_s=1.5, poll_s=0.3
    )
    app = console(settings)
    async with app.run_test(size=(120, 30)) as pilot:
        connect = app.screen
        assert isinstance(connect, ConnectScreen)
        await pick(pilot, connect, stall)  # other Stallbox nodes on the loopback may answer too
        await pilot.press(*pairing_code(stall), "enter")
        await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")
        await until_shown(pilot, "✔ node up")


async def test_an_order_confirmed_elsewhere_shows_as_paid_not_as_an_error(
    stall: NodeProcess, app: StallboxConsole
) -> None:
    """Another console (or a lost answer) confirmed first: the node says 409, the order is paid."""
    async with app.run_test(size=(120, 40)) as pilot:
        pay = await coffee_in_cash(pilot)
        with node_api(stall, app.settings.state_path) as other_console:
            assert other_console.post(f"/api/orders/{pay.order.id}/confirm", json={}).is_success
        await pilot.press("enter")
        await until_shown(pilot, "✔ PAID")
        assert "confirmed earlier" in shown(app)
