"""Power cuts under a selling process: nothing acknowledged is lost; a weakened store is caught.

POWERCUT_CUTS sets the number of cuts (default 12 here; bench/powercut.py runs the long soak).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from lossymount import skip_without_fuse
from powercuts import Tally, cycle

# Not serial: the cuts fall at random moments and nothing here is timed; the FUSE mount, its
# files and the writer are this test's own, so it runs beside others in the parallel phase.
pytestmark = pytest.mark.slow  # a FUSE mount and a writer per cut: scheduled first (conftest.py)

CUTS = int(os.environ.get("POWERCUT_CUTS", "12"))
SEED = int(os.environ.get("POWERCUT_SEED", "20261204"))


def test_no_acknowledged_sale_is_lost_across_power_cuts(tmp_path: Path) -> None:
    skip_without_fuse()
    rng, tally = random.Random(SEED), Tally()
    for _ in range(CUTS):
        cycle(tmp_path / "disk", tmp_path / "mnt", rng, tally)
    print(f"cuts={tally.cuts} acked={tally.acked} lost={tally.lost}")
    assert tally.problems == []
    assert tally.acked > CUTS, "too few sales to prove anything"


def test_teeth_a_store_with_synchronous_normal_loses_acknowledged_sales(tmp_path: Path) -> None:
    """The same cuts against synchronous=NORMAL must be detected: proof the harness bites."""
    skip_without_fuse()
    rng, tally = random.Random(SEED), Tally()
    disk, mnt = tmp_path / "disk", tmp_path / "mnt"
    cycle(disk, mnt, rng, Tally())  # a full-strength init first, so every weak cut is mid-sale
    for _ in range(4):
        cycle(disk, mnt, rng, tally, weak=True)
        if tally.lost:
            break
    print(f"weak store: cuts={tally.cuts} acked={tally.acked} lost={tally.lost}")
    assert tally.lost > 0, "the harness did not catch synchronous=NORMAL losing sales"


@pytest.mark.parametrize("cuts", [1])
def test_the_tally_counts_a_sale_missing_from_the_ledger(tmp_path: Path, cuts: int) -> None:
    """check() itself: a reported sale with no receipt is counted as lost."""
    from powercuts import check

    tally = Tally(reported={1: "00000001deadbeef"}, cuts=cuts)
    check(tmp_path / "no-state", tally)
    assert tally.lost == 1 and tally.problems
