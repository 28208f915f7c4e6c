"""Power cuts under the real node, clients selling: no acknowledged sale lost, the chain holds.

POWERCUT_NODE_CUTS sets the number of cuts under the node (default 8), POWERCUT_CLAIM_CUTS in
claim storms (default 4) and POWERCUT_STACK_CUTS under node + sync daemon + cloud (default 4);
bench/powercut.py runs the long soak (≥ 200 cuts). The processes are forked from a fork server
(forkserver.py; POWERCUT_FORK=0 execs each one instead).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from claimcuts import ClaimTally, one_claims, run_claims
from forkserver import ForkServer
from launch import forks
from lossymount import skip_without_fuse
from nodecuts import NodeTally, run
from stackcuts import run_stack

# Not serial: the cuts fall at random moments and nothing here is timed; mounts, state, ports
# (0) and the fork server are this module's own, so it runs beside others in the parallel phase.
pytestmark = pytest.mark.slow  # real processes on a FUSE mount: scheduled first (conftest.py)

__all__ = ["forks"]  # the fork server fixture (launch.py), found by name
CUTS = int(os.environ.get("POWERCUT_NODE_CUTS", "8"))
SEED = int(os.environ.get("POWERCUT_SEED", "20261204"))


def test_the_node_keeps_every_acknowledged_sale_across_power_cuts(
    tmp_path: Path, forks: ForkServer | None
) -> None:
    skip_without_fuse()
    tally = NodeTally(forks=forks)
    run(tmp_path / "disk", tmp_path / "mnt", random.Random(SEED), tally, CUTS)
    print(f"cuts={tally.cuts} kinds={tally.kinds} acked={tally.acked} lost={tally.lost}")
    assert tally.problems == []
    assert tally.acked > 0, "no sale was acknowledged: the test proved nothing"


CLAIM_CUTS = int(os.environ.get("POWERCUT_CLAIM_CUTS", "4"))


def test_a_claim_storm_keeps_every_answered_claim_and_never_oversells(
    tmp_path: Path, forks: ForkServer | None
) -> None:
    """Phones claiming a limited drop across cuts: claims answered ≤ quantity, all still held."""
    skip_without_fuse()
    rng = random.Random(SEED)
    tally = run_claims(tmp_path / "disk", tmp_path / "mnt", rng, CLAIM_CUTS, forks)
    print(f"cuts={tally.node.cuts} claims={tally.claims} statuses={dict(tally.statuses)}")
    assert tally.node.problems == []
    assert tally.claims > 0, "no claim was answered: the test proved nothing"


def test_teeth_a_claim_storm_on_synchronous_normal_loses_claims_and_is_caught(
    tmp_path: Path,
) -> None:
    """The same storm against a node whose store skips the commit fsync must be caught."""
    skip_without_fuse()
    weak = ForkServer(weak=True)
    try:
        rng, tally = random.Random(SEED), ClaimTally(NodeTally(forks=weak))
        for _ in range(6):
            one_claims(tmp_path / "disk", tmp_path / "mnt", rng, tally)
            if tally.lost:
                break
    finally:
        weak.close()
    print(f"weak store: claims={tally.claims} lost={tally.lost} oversold={tally.oversold}")
    assert tally.lost > 0 and tally.node.problems, "synchronous=NORMAL lost no claim it answered"


STACK_CUTS = int(os.environ.get("POWERCUT_STACK_CUTS", "4"))


def test_the_stack_keeps_sales_and_the_cloud_has_no_duplicate_or_gap(
    tmp_path: Path, forks: ForkServer | None
) -> None:
    """Node, sync daemon and cloud on the mount: cuts, then sync catches up with no cut."""
    skip_without_fuse()
    rng = random.Random(SEED)
    tally, clouds = run_stack(tmp_path / "disk", tmp_path / "mnt", rng, STACK_CUTS, forks)
    print(f"cuts={tally.cuts} acked={tally.acked} lost={tally.lost} cloud={clouds}")
    assert tally.problems == []
    assert tally.acked > 0
