"""Power cuts under the real node, clients selling: no acknowledged sale lost, the chain holds.

POWERCUT_NODE_CUTS sets the number of cuts (default 12, about 40 s here);
bench/powercut.py runs the long soak.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from lossymount import skip_without_fuse
from nodecuts import NodeTally, run

CUTS = int(os.environ.get("POWERCUT_NODE_CUTS", "12"))
SEED = int(os.environ.get("POWERCUT_SEED", "20261204"))


def test_the_node_keeps_every_acknowledged_sale_across_power_cuts(tmp_path: Path) -> None:
    skip_without_fuse()
    tally = NodeTally()
    run(tmp_path / "disk", tmp_path / "mnt", random.Random(SEED), tally, CUTS)
    print(f"cuts={tally.cuts} kinds={tally.kinds} acked={tally.acked} lost={tally.lost}")
    assert tally.problems == []
    assert tally.acked > 0, "no sale was acknowledged: the test proved nothing"
