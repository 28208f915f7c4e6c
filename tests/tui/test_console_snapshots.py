"""Snapshots of every screen at 80x24 and 120x40, from the console's own SVG screenshots.

The text on the cell grid is compared with tests/tui/snapshots/*.txt after masking what changes
from run to run (times, ports, fingerprints, QR modules — the codes are checked by decoding in
test_console_sale.py). Set STALLBOX_UPDATE_SNAPSHOTS=1 to accept a deliberate change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    check_snapshot,
    console,
    paired_settings,
    shown,
    start_stall,
    until,
    until_shown,
)
from textual.pilot import Pilot

from tui.app import StallboxConsole
from tui.screens.connect import ConnectScreen
from tui.screens.pay import PayScreen
from tui.screens.receipt import ReceiptScreen
from tui.screens.tender import TenderScreen
from tui.widgets.qr import QrCode

pytestmark = pytest.mark.anyio


async def snap(pilot: Pilot[Any], name: str) -> None:
    """Let the screen settle, then compare it with its snapshot."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    check_snapshot(name, shown(pilot.app, strip=False))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
async def test_every_screen(size: tuple[int, int], tmp_path: Path) -> None:
    node = start_stall(tmp_path / "state")
    try:
        app = console(paired_settings(node, tmp_path / "console.json"))
        tag = f"{size[0]}x{size[1]}"
        async with app.run_test(size=size) as pilot:
            await walk(pilot, app, tag)
    finally:
        node.stop()


async def walk(
    pilot: Pilot[Any],
    app: StallboxConsole,
    tag: str,
    snap: Callable[[Pilot[Any], str], Awaitable[None]] = snap,
) -> None:
    """Visit each screen in a fixed order, so every figure on them is the same each run."""
    await until_shown(pilot, "✔ node up")
    await until_shown(pilot, "Pastel")
    await pilot.press("2", "2", "1")
    await until_shown(pilot, "TOTAL")
    await snap(pilot, f"sell_{tag}")

    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, TenderScreen), "the tender dialog")
    await snap(pilot, f"tender_{tag}")

    await pilot.press("1")
    await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
    await until_shown(pilot, "REF 001Y")
    await snap(pilot, f"pay_{tag}")

    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ReceiptScreen), "the receipt")
    await until_shown(pilot, "✔ PAID")
    await until(
        pilot, lambda: app.screen.query_one("#receipt-qr", QrCode).lines != (), "the receipt QR"
    )
    await until_shown(pilot, "outbox 2")
    await snap(pilot, f"receipt_{tag}")
    await pilot.press("enter")

    await pilot.press("f3")
    await until_shown(pilot, "001Y")
    await snap(pilot, f"orders_{tag}")

    await pilot.press("f4")
    await until_shown(pilot, "no drops yet")
    await pilot.press("n", "enter", *"Coffee", "enter", "5", "enter", *"10", "enter")
    await until_shown(pilot, "0 claimed")
    await snap(pilot, f"drops_{tag}")

    await pilot.press("f5")
    await until_shown(pilot, "Outbox depth")
    await snap(pilot, f"sync_{tag}")

    await pilot.press("f6")
    await until_shown(pilot, "Top items:")
    await until_shown(pilot, "pix")
    await snap(pilot, f"numbers_{tag}")

    await pilot.press("f9")
    await until(pilot, lambda: isinstance(app.screen, ConnectScreen), "the connect screen")
    await snap(pilot, f"connect_{tag}")
