"""The node killed mid-session: the console shows the banner, refuses actions clearly, and
recovers by itself when the node comes back on the same address."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_support import (
    console,
    free_port,
    paired_settings,
    shown,
    start_stall,
    until,
    until_shown,
)
from impostor import Impostor

from tui.app import ConsoleSettings
from tui.screens.connect import KeyChangedScreen
from tui.screens.pay import PayScreen
from tui.state import ConsoleState

pytestmark = pytest.mark.anyio


async def test_node_killed_then_restarted(tmp_path: Path) -> None:
    port = free_port()
    node = start_stall(tmp_path / "state", port)
    try:
        app = console(paired_settings(node, tmp_path / "console.json", poll_s=0.2))
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await until_shown(pilot, "✔ node up")
            await until_shown(pilot, "Coffee")

            node.process.kill()  # no goodbye: like a power cut or a crash
            node.process.wait(10)
            await until_shown(pilot, "NODE UNREACHABLE")
            assert "✖ NODE DOWN" in shown(app)

            await pilot.press("1", "enter")  # try to sell while it is down
            await until_shown(pilot, "Node unreachable — not sent")
            assert not isinstance(app.screen, PayScreen)

            node = start_stall(tmp_path / "state", port)  # same state dir, same port
            await until(pilot, lambda: "NODE UNREACHABLE" not in shown(app), "the banner to go")
            await until_shown(pilot, "✔ node up")

            app.clear_notifications()
            await pilot.press("enter", "c")  # the cart survived: finish the sale in cash
            await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
            await until_shown(pilot, "REF 0")
            await pilot.press("enter")
            await until_shown(pilot, "✔ PAID")
    finally:
        if node.process.poll() is None:
            node.stop()


async def test_a_box_swapped_behind_the_same_address_is_a_loud_warning(tmp_path: Path) -> None:
    """The key is proven on every reconnection, not only at pairing: never a silent reconnect."""
    port = free_port()
    node = start_stall(tmp_path / "state", port)
    try:
        app = console(paired_settings(node, tmp_path / "console.json", poll_s=0.2))
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await until_shown(pilot, "✔ node up")
            node.stop()
            await until_shown(pilot, "NODE UNREACHABLE")
            node = start_stall(tmp_path / "other-box", port)  # another key at the same address
            await until_shown(pilot, "THE NODE'S KEY HAS CHANGED")
            assert "⚠ KEY CHANGED" in shown(app) or app.link.node == "untrusted"
            assert app.client is None  # nothing can be sent to it meanwhile
            await pilot.press("escape")  # refuse
            await until_shown(pilot, "the node's key was not trusted")
            assert app.client is None
    finally:
        if node.process.poll() is None:
            node.stop()


@pytest.mark.parametrize("mode", ["404", "proxy"])
async def test_an_impostor_at_the_pinned_address_gets_no_token_and_a_loud_warning(
    tmp_path: Path, mode: str
) -> None:
    """Another key answering 404 to everything, or a TLS proxy with its own certificate in
    front of the real box: the console says the key changed and sends nothing at all."""
    node = start_stall(tmp_path / "state")
    try:
        real = paired_settings(node, tmp_path / "real.json")
        pinned = ConsoleState(real.state_path).node(node.operator_url)
        assert pinned is not None and pinned.token
        with Impostor(tmp_path / "impostor", mode, node) as impostor:
            state = ConsoleState(tmp_path / "console.json")  # paired with the box at this address
            state.pin(impostor.url, pinned.node_id, pinned.fingerprint, pinned.token)
            app = console(ConsoleSettings(impostor.url, tmp_path / "console.json", poll_s=0.2))
            async with app.run_test(size=(100, 30), notifications=True) as pilot:
                await until(pilot, lambda: isinstance(app.screen, KeyChangedScreen), "the warning")
                await until_shown(pilot, "THE NODE'S KEY HAS CHANGED")
                assert pinned.fingerprint.split(":")[1] in shown(app)  # the pinned one, named
                assert app.client is None
            assert not impostor.received  # no token, no request: only a handshake
    finally:
        node.stop()
