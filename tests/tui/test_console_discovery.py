"""The console finds the right node over mDNS with other Stallbox nodes on the same loopback, a
busy CPU, and a node that starts (and so announces itself) only after the console has looked.

The console must keep listening and list each node as its answer arrives: a one-shot browse of
`discover_s` seconds never sees a node that announces later, and picking by position would pick
whichever node answered first.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from console_support import (
    console,
    pairing_code,
    pick,
    shown,
    start_stall,
    until,
)

from appliance.discovery import Advertiser, NodeAd
from tui.app import ConsoleSettings
from tui.screens.connect import ConnectScreen
from tui.screens.sell import SellScreen

pytestmark = [pytest.mark.anyio, pytest.mark.serial]  # mDNS timing under a busy CPU

DECOYS = int(os.environ.get("STALLBOX_TEST_MDNS_DECOYS", "6"))
BUSY_S = 40.0  # the CPU burners stop by themselves after this, whatever happens to the test


@pytest.fixture
def busy_cpu() -> Iterator[None]:
    """One busy process per core for the test's length (bounded in time, killed at the end)."""
    code = f"import time\nend = time.monotonic() + {BUSY_S}\nwhile time.monotonic() < end: pass"
    burners = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait(5)


@pytest.fixture
async def decoys() -> AsyncIterator[list[Advertiser]]:
    """Other Stallbox nodes on the loopback, named like ours ("My Stall #n"). Not the very same
    name: several responders on one host that start at once do not see each other's probes on
    loopback, so equal names overwrite each other's records and a decoy goes missing at random
    (the test would then wait for a decoy that is not there, not for the console)."""
    advertisers = [
        Advertiser(
            NodeAd(
                f"My Stall #{n}",
                f"decoy{n}",
                40000 + n,
                f"SHA256:decoy{n}",
                operator_port=41000 + n,
            ),
            "loopback",
        )
        for n in range(DECOYS)
    ]
    await asyncio.gather(*(ad.start() for ad in advertisers))
    try:
        yield advertisers
    finally:
        await asyncio.gather(*(ad.close() for ad in advertisers))


@pytest.mark.usefixtures("busy_cpu")
async def test_a_node_announced_late_among_others_is_listed_and_paired(
    decoys: list[Advertiser], tmp_path: Path
) -> None:
    settings = ConsoleSettings(
        state_path=tmp_path / "console.json", interfaces="loopback", discover_s=1.0, poll_s=0.3
    )
    app = console(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        connect = app.screen
        assert isinstance(connect, ConnectScreen)
        await until(pilot, lambda: len(connect.found) >= DECOYS, "the decoys")  # heard first
        await asyncio.sleep(settings.discover_s + 0.5)  # a one-shot browse would be over now
        late = await asyncio.to_thread(start_stall, tmp_path / "late")
        try:
            fingerprint = await pick(pilot, connect, late)
            # A node heard after the pick is listed, and the picked fingerprint stays in view.
            listed = len(connect.found)
            extra = Advertiser(
                NodeAd("My Stall", "decoyx", 40099, "SHA256:decoyx", operator_port=41099),
                "loopback",
            )
            await extra.start()
            try:
                await until(pilot, lambda: len(connect.found) > listed, "the node heard last")
                assert f"Fingerprint {fingerprint}" in shown(app)
            finally:
                await extra.close()
            code = await asyncio.to_thread(pairing_code, late)
            await pilot.press(*code, "enter")
            await until(pilot, lambda: isinstance(app.screen, SellScreen), "the sell screen")
            assert app.client is not None and app.client.base_url == late.operator_url
        finally:
            late.stop()
