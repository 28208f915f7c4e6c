"""A pass sold in cash at the console is handed over on its screen (issue 19): Pilot against a
real node that sells a pass product under its delegation. After the confirmation the console
shows the issued pass's QR full screen; the screenshot, rasterised, decodes (zxing-cpp) back to
the very pass text the node stored, and that text verifies under the creator's key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from console_support import (
    console,
    init_state,
    paired_settings,
    screenshot_png,
    shown,
    until,
    until_shown,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess, start_node

from appliance.ledger.identity import load_key
from appliance.passes.cose import raw_public
from appliance.passes.trust import TrustStore, delegate
from tui.screens.pass_handover import PassHandoverScreen
from tui.screens.pay import PayScreen
from tui.screens.receipt import ReceiptScreen
from tui.screens.sell import HOTKEYS, SellScreen

pytestmark = pytest.mark.anyio
ANA = Ed25519PrivateKey.generate()
DAY = 86_400


@pytest.fixture
def pass_stall(tmp_path: Path) -> Iterator[NodeProcess]:
    """A node that sells a pass product of creator:ana, under ana's delegation to its key."""
    state = tmp_path / "state"
    init_state(state)
    now = int(time.time())
    (state / "passes").mkdir()
    (state / "passes" / "box.delegation").write_bytes(
        delegate(ANA, "creator:ana", load_key(state).public, "box 1", (now - DAY, now + 90 * DAY))
    )
    config = state / "stallbox.toml"
    config.write_text(
        config.read_text()
        + '\n[[catalog]]\nsku = "fanpass"\nname = "Fan pass"\nprice = "30.00"\n'
        + f'\n[passes]\ncreators = {{ "creator:ana" = "{raw_public(ANA.public_key()).hex()}" }}\n'
        + 'delegation = "passes/box.delegation"\n'
        + '\n[[passes.products]]\nsku = "fanpass"\ncreator = "creator:ana"\ndays = 30\n'
        + 'holder = "Superfan"\nentitlements = [{ kind = "percent_off", value = 10 }]\n'
    )
    node = start_node(state)
    yield node
    node.stop()


async def test_a_pass_sold_in_cash_is_shown_full_screen_and_decodes_to_the_pass(
    pass_stall: NodeProcess, tmp_path: Path
) -> None:
    app = console(paired_settings(pass_stall, tmp_path / "console.json"))
    async with app.run_test(size=(110, 50)) as pilot:
        await until_shown(pilot, "Fan pass")
        sell = app.screen
        assert isinstance(sell, SellScreen)
        key = HOTKEYS[[item.sku for item in sell.items].index("fanpass")]
        await pilot.press(key, "enter")
        await until_shown(pilot, "c  cash")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
        await until_shown(pilot, "REF 0")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PassHandoverScreen), "the pass")
        await until_shown(pilot, "PASS 1 of 1 · Superfan")
        handover = app.screen
        assert isinstance(handover, PassHandoverScreen)
        text = handover.passes[0].text
        found = zxingcpp.read_barcodes(screenshot_png(app, keep="console-pass.png"))
        assert [code.text for code in found] == [text]
        assert text.startswith("SBP1:")
        await pilot.press("enter")  # done: back to the receipt
        await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
        assert "✔ PAID" in shown(app)
        receipt = app.screen
        assert isinstance(receipt, ReceiptScreen)
    small = console(paired_settings(pass_stall, tmp_path / "small.json"))
    async with small.run_test(size=(80, 24)) as pilot:  # no room for the code: says where else
        await until_shown(pilot, "Fan pass")
        sell = small.screen
        assert isinstance(sell, SellScreen)
        await pilot.press(HOTKEYS[[item.sku for item in sell.items].index("fanpass")], "enter")
        await until_shown(pilot, "c  cash")
        await pilot.press("c")
        await until_shown(pilot, "REF 0")
        await pilot.press("enter")
        await until_shown(pilot, "PASS 1 of 1")
        assert "QR needs" in shown(small) and not zxingcpp.read_barcodes(screenshot_png(small))
    with pass_stall.phone() as phone:  # the very pass the node stored for the order
        page = phone.get(f"/o/{receipt.answer.order.id}").text
    assert f'data-issued-pass="{text}"' in page
    card = TrustStore({"creator:ana": ANA.public_key()})
    card.add_delegation((pass_stall.state / "passes" / "box.delegation").read_bytes())
    assert card.verify(text, int(time.time())).holder == "Superfan"


async def test_a_holder_from_an_attendees_note_is_shown_as_text_never_as_markup() -> None:
    # A pass sold on the attendee pages takes its holder from the first line of the order's
    # note, which the attendee types: "[/bold]" raised MarkupError and took the console down.
    from textual.app import App

    from appliance.api.pass_schemas import IssuedPassOut

    holder = "[/bold] [@click=app.quit]x[/]"
    issued = IssuedPassOut(1, "fanpass", "ab" * 16, holder, "SBP1:ABCDEF", "2026-12-05T00:00:00Z")
    app: App[None] = App()
    async with app.run_test(size=(110, 50)) as pilot:
        await app.push_screen(PassHandoverScreen([issued], 7, "half", "the receipt page"))
        await until_shown(pilot, f"PASS 1 of 1 · {holder} · order #7")
        assert app.is_running
