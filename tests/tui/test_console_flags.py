"""The console shows what the box's canary judge did, and why (issue 20): a real node with a
bundle whose canary arm gets no data by its (short) deadline switches it off; the console shows
a notice naming the arm and the reason at once, and the Numbers screen lists the arm as OFF."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bundles import flags_table, signed, upsell
from console_support import console, paired_settings, until_shown
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess, run_cli, start_node

pytestmark = pytest.mark.anyio
KEY = Ed25519PrivateKey.generate()
STATIC = {"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a"}}}
UPSELL: dict[str, Any] = upsell()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    state = tmp_path / "state"
    assert run_cli("init", "--state", str(state)).returncode == 0
    with (state / "stallbox.toml").open("a", encoding="utf-8") as config:
        config.write(flags_table(KEY, judge_interval_s=0.2, deadline_s=1.5, min_views=5))
    running = start_node(state)
    yield running
    if running.process.poll() is None:
        running.stop()


async def test_the_console_says_which_arm_the_box_switched_off_and_why(
    node: NodeProcess, tmp_path: Path
) -> None:
    app = console(paired_settings(node, tmp_path / "console.json"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until_shown(pilot, "Pastel")  # the Sell screen, linked to the node
        kinds: list[str] = []
        app.node_event.subscribe(app.screen, lambda event: kinds.append(event.kind))
        now = int(time.time())
        with node.client(node.pair()) as api:
            # first a bundle with no experiment, offered until the console's event stream says
            # so: then the console follows the events when the judge decides
            probe = signed(KEY, STATIC, issued=now, back_s=20)
            deadline = time.monotonic() + 15
            while "flags" not in kinds:
                assert time.monotonic() < deadline, "the console never followed the events"
                assert api.put("/api/flags", content=probe).status_code == 200
                await pilot.pause(0.5)
            wire = signed(KEY, UPSELL, issued=now)
            assert api.put("/api/flags", content=wire).status_code == 200
            await until_shown(pilot, "Canary cart-upsell/pastel switched OFF: no data: 0 views")
            decisions = api.get("/api/flags").json()["decisions"]
            assert len(decisions) == 1 and decisions[0]["bundle"] != "", decisions
        await pilot.press("f6")
        await until_shown(pilot, "cart-upsell/pastel OFF · 0/0 paid, p95 —")
        await until_shown(pilot, "no data: 0 views in an arm by the deadline (needs 5)")
