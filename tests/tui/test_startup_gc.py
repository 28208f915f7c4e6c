"""The console's start runs without the cyclic collector (tui/startup_gc.py): `stallbox console`
pauses it before importing the console, and the app switches it back on, with what the start
built frozen, once the first catalogue is drawn; a process that never paused it is left alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import console, paired_settings, until, until_shown
from nodeproc import NodeProcess

from tui import startup_gc

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json
from tui import startup_gc
startup_gc.resume()  # never paused: nothing happens
untouched = [gc.isenabled(), gc.get_freeze_count()]
startup_gc.pause()
paused = gc.isenabled()
import tui.app
startup_gc.resume()
print(json.dumps({"untouched": untouched, "paused": paused, "resumed": gc.isenabled(),
                  "frozen": gc.get_freeze_count(), "pay": "tui.screens.pay" in __import__("sys").modules}))
"""


def test_pause_and_resume_in_a_process_of_its_own() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["untouched"] == [True, 0]
    assert found["paused"] is False and found["resumed"] is True
    assert found["frozen"] > 10_000  # the console's modules, moved out of the collector's walks
    assert found["pay"] is False  # the pay step is not imported at start


@pytest.fixture
def paused() -> Iterator[None]:
    """The collector paused as `stallbox console` pauses it; everything as it was afterwards."""
    startup_gc.pause()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()  # this test process's objects go back to the collector


@pytest.mark.anyio
async def test_the_app_switches_the_collector_back_on_after_the_first_catalogue(
    stall: NodeProcess, tmp_path: Path, paused: None
) -> None:
    app = console(paired_settings(stall, tmp_path / "console.json"))
    async with app.run_test(size=(120, 40)) as pilot:
        await until_shown(pilot, "Pastel")
        # at once (RESUME_AFTER_S is only for a console that never draws a catalogue)
        await until(pilot, gc.isenabled, "the collector back on after the first catalogue", 2.0)
