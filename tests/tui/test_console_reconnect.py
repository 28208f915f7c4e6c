"""The node killed mid-session: the console shows the banner, refuses actions clearly, and
recovers by itself when the node comes back on the same address."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_support import (
    anyio_backend,
    console,
    free_port,
    paired_settings,
    shown,
    start_stall,
    until,
    until_shown,
)

from tui.screens.pay import PayScreen

__all__ = ["anyio_backend"]  # fixtures, used by name

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
