"""Pilot test against a real node (issue 19): the vendor reads a fan pass into the current sale.

A USB scanner acts as a keyboard: a fast burst of the pass's characters ending with Enter. The
burst must not become item hotkeys nor a tender; the node verifies the pass and its discount
is on the order the tender dialog shows. A revoked pass typed into the search box is refused
with the reason in words, and the sale goes on at full price.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import console, init_state, paired_settings, until, until_shown
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess, start_node
from textual import events
from textual.app import App
from textual.widgets import Input

from appliance.passes.cose import raw_public
from appliance.passes.model import Entitlement, Kind, Pass
from appliance.passes.trust import issue_pass, revocation_id, revocation_list
from tui.screens.sell import SellScreen
from tui.screens.tender import TenderScreen

pytestmark = pytest.mark.anyio
ANA = Ed25519PrivateKey.generate()


def fan_pass(percent: int) -> Pass:
    now = int(time.time())
    return Pass(
        secrets.token_hex(16), "creator:ana", "Fan 1", now - 60, now + 86400, now - 60,
        (Entitlement(Kind.PERCENT_OFF, percent),), "",
    )  # fmt: skip


GOOD, REVOKED = fan_pass(10), fan_pass(50)


@pytest.fixture(scope="module")
def passes_stall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    state = tmp_path_factory.mktemp("pass-stall") / "state"
    init_state(state)
    (state / "passes").mkdir()
    listed = revocation_list(
        ANA, "creator:ana", [revocation_id("creator:ana", REVOKED.pass_id)], int(time.time())
    )
    (state / "passes" / "ana.revoked").write_bytes(listed)
    with (state / "stallbox.toml").open("a") as config:
        config.write(
            f'\n[passes]\ncreators = {{ "creator:ana" = "{raw_public(ANA.public_key()).hex()}" }}'
            '\nrevocations = ["passes/ana.revoked"]\n'
        )
    node = start_node(state)
    yield node
    node.stop()


SIGNS = {" ": "space", "$": "dollar_sign", "%": "percent_sign", "*": "asterisk", "+": "plus",
         "-": "minus", ".": "full_stop", "/": "slash", ":": "colon"}  # Textual's key names  # fmt: skip


def scan(app: App[Any], text: str) -> None:
    """A keyboard-wedge scanner: every key of `text` and Enter at once, with no pause between."""
    for char in text:
        app.post_message(events.Key(SIGNS.get(char, char), char))
    app.post_message(events.Key("enter", "\r"))


async def test_a_scanned_pass_discounts_the_sale_and_a_revoked_one_says_why(
    passes_stall: NodeProcess, tmp_path: Path
) -> None:
    app = console(paired_settings(passes_stall, tmp_path / "console.json"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(pilot, "Pastel")
        sell = app.screen
        assert isinstance(sell, SellScreen)
        await pilot.press("2")  # one pastel (9.00)
        await until_shown(pilot, "1 x Pastel")
        scan(app, issue_pass(ANA, GOOD))
        await until_shown(pilot, "PASS Fan 1: 10% off")
        assert sell.cart == {"pastel": 1}  # no digit of the pass became an item
        assert isinstance(app.screen, SellScreen)  # nor its Enter a tender

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TenderScreen), "the tender dialog")
        tender = app.screen
        assert isinstance(tender, TenderScreen)
        assert tender.order.total == 810  # 9.00 less 10%
        assert any(line.sku.startswith(f"pass:{GOOD.pass_id}") for line in tender.order.lines)
        await pilot.press("escape")  # back: the order is cancelled, the cart kept
        await until(pilot, lambda: app.screen is sell, "the sell screen")

        await pilot.press("slash")  # typed (here: pasted) into the search box
        search = app.screen.query_one("#search", Input)
        await until(pilot, lambda: search.has_focus, "the search box")
        search.value = issue_pass(ANA, REVOKED)
        await pilot.press("enter")
        await until_shown(pilot, "this pass was revoked by its creator")
        assert sell.pass_text is None and sell.cart == {"pastel": 1}
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TenderScreen), "the tender dialog")
        assert isinstance(app.screen, TenderScreen) and app.screen.order.total == 900
