"""Power-cut soak (issue 17): hundreds of cuts under a selling box, counting what was lost.

Every cut is made by tests/powercut/lossyfs.py (a FUSE mount that keeps only what was fsynced,
sometimes a torn last write, sometimes a random subset of the unsynced writes). Of every ten
cuts, four are under the store alone (sell_child.py: eight sales in flight, group commits, WAL
growth, a quarter cut at a checkpoint's first write, about one in seven during `init`), two
under the real node with consoles pairing and selling over the operator plane (one in six of
them during `init`), two in a claim storm (phones claiming a limited drop) and two under the
node, the sync daemon and the cloud together (enrolment, the cloud's store, 40 % cut at the
daemon's acked-seq update). After each: the surviving bytes verify and hold every sale and
every claim a client was answered, no drop is oversold, and the cloud holds each seq once, with
no gap and no fork; at the end sync catches up with no cut. Bounded by --cuts and --minutes.

Usage: python bench/powercut.py [--cuts N] [--minutes M] [--seed S]
(node, sync and cloud processes are forked from tests/powercut/forkserver.py; POWERCUT_FORK=0
execs each one instead.)
Ends with {"bench":"powercut","cuts":…,"acked":…,"lost":…,"broken_chains":…,…}: `hits` counts
the cuts by what was unsynced when the power went (tests/powercut/lossymount.py, points()),
`seconds_per_cut` the mean wall time of a cut of each kind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path

HERE = Path(__file__).resolve().parent
# `python bench/powercut.py` puts bench/ first on sys.path, where bench/sync.py would shadow the
# `sync` package: put the repo there instead (as bench/sync.py does).
sys.path[:1] = [str(HERE.parent), str(HERE.parent / "tests" / "powercut")]

from claimcuts import ClaimTally, one_claims  # noqa: E402
from forkserver import ForkServer, enabled  # noqa: E402
from nodecuts import NodeTally, one  # noqa: E402
from powercuts import Tally, cycle  # noqa: E402
from stackcuts import CloudTally, catch_up, cut_stack  # noqa: E402
from syncproc import free_port  # noqa: E402

from bench.honest import print_machine  # noqa: E402

MIX = ("store", "node", "store", "claims", "stack", "store", "node", "claims", "store", "stack")


class Exit(IntEnum):
    """Exit codes: 0 nothing lost, 1 something lost or broken, 2 cannot run here."""

    OK = 0
    LOST = 1
    NO_FUSE = 2


def main(argv: list[str] | None = None) -> int:
    """Cut the power `--cuts` times (or until `--minutes`), print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args(argv)
    if not os.path.exists("/dev/fuse"):
        print("powercut: no /dev/fuse here; the lossy filesystem needs FUSE", file=sys.stderr)
        return Exit.NO_FUSE
    print_machine("bench/powercut.py")
    rng = random.Random(args.seed)
    forks = ForkServer() if enabled() else None
    try:
        return soak(args.cuts, args.minutes, args.seed, rng, forks)
    finally:
        if forks is not None:
            forks.close()


def soak(cuts: int, minutes: float, seed: int, rng: random.Random, forks: ForkServer | None) -> int:
    """The cuts, then the JSON line; the exit code."""
    store, node, stack = Tally(), NodeTally(forks=forks), NodeTally(forks=forks)
    claims, clouds, port = ClaimTally(NodeTally(forks=forks)), CloudTally(), free_port()
    spent: dict[str, list[float]] = {kind: [] for kind in ("store", "node", "claims", "stack")}
    deadline = time.monotonic() + minutes * 60
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="powercut-") as tmp:
        root = Path(tmp)
        kinds: dict[str, Callable[[int], None]] = {
            "store": lambda i: cycle(root / "store-disk", root / "store-mnt", rng, store),
            "node": lambda i: one(root / "node-disk", root / "node-mnt", rng, node, node.cuts),
            "claims": lambda i: one_claims(root / "claim-disk", root / "claim-mnt", rng, claims),
            "stack": lambda i: stack_cut(root, port, rng, stack, clouds),
        }
        for i in range(cuts):
            if time.monotonic() > deadline:
                break
            kind = MIX[i % len(MIX)]
            began = time.monotonic()
            kinds[kind](i)
            spent[kind].append(time.monotonic() - began)
            if (i + 1) % 20 == 0:
                print(f"powercut: {i + 1} cuts in {time.monotonic() - started:.0f} s, "
                      f"{store.acked + node.acked + stack.acked} sales and {claims.claims} "
                      f"claims acked, {store.lost + node.lost + stack.lost + claims.lost} lost",
                      file=sys.stderr)  # fmt: skip
        began = time.monotonic()
        if stack.cuts and not catch_up(root / "stack-disk", root / "stack-mnt", port):
            stack.problems.append("sync did not catch up with the box after the cuts")
        catch_up_s = time.monotonic() - began
    tallies = (store, node, claims.node, stack)
    problems = [problem for tally in tallies for problem in tally.problems]
    for problem in problems:
        print(f"powercut: {problem}", file=sys.stderr)
    hits: dict[str, int] = {}
    for tally in tallies:
        for point, count in tally.hits.items():
            hits[point] = hits.get(point, 0) + count
    print(json.dumps({
        "bench": "powercut", "cuts": sum(len(s) for s in spent.values()),
        "acked": store.acked + node.acked + stack.acked,
        "lost": store.lost + node.lost + stack.lost + claims.lost,
        "broken_chains": sum(t.broken_chains for t in tallies),
        "cloud_duplicates": clouds.duplicates, "cloud_gaps": clouds.gaps,
        "cloud_forks": clouds.forks, "cloud_ahead_of_box": clouds.ahead_of_box,
        "claims_acked": claims.claims, "claims_lost": claims.lost,
        "drops": len(claims.acked), "oversold": len(claims.oversold),
        "cuts_by_kind": {kind: len(s) for kind, s in spent.items()},
        "node_kinds": node.kinds, "hits": dict(sorted(hits.items())),
        "seconds_per_cut": {k: round(sum(s) / len(s), 2) for k, s in spent.items() if s},
        "catch_up_s": round(catch_up_s, 1),
        "failed_starts": sum(t.failed_starts for t in tallies), "problems": len(problems),
        "seconds": round(time.monotonic() - started, 1), "seed": seed, "forked": forks is not None,
    }))  # fmt: skip
    return Exit.OK if not problems else Exit.LOST


def stack_cut(
    root: Path, port: int, rng: random.Random, tally: NodeTally, clouds: CloudTally
) -> None:
    """One cut under node + sync daemon + cloud."""
    cut_stack(root / "stack-disk", root / "stack-mnt", port, rng, tally, clouds)
    tally.cuts += 1


if __name__ == "__main__":
    sys.exit(main())
