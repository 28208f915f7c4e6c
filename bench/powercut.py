"""Power-cut soak (issue 17): hundreds of cuts under a selling box, counting what was lost.

Every cut is made by tests/powercut/lossyfs.py (a FUSE mount that keeps only what was fsynced,
sometimes a torn last write, sometimes a random subset of the unsynced writes). A third of the
cuts are under the store alone (sell_child.py: eight sales in flight, group commits, WAL growth
and checkpoints, init), a third under the real node with clients selling over the operator
plane (cuts during init, pairing and sales), a third under the node, the sync daemon and the
cloud together (enrolment, the daemon's acked-seq update, the cloud's store). After each: the
surviving bytes must verify and hold every sale a client was told was confirmed; the cloud
holds each seq once, with no gap and no fork; at the end sync catches up with no cut. Bounded
by --cuts and --minutes.

Usage: python bench/powercut.py [--cuts N] [--minutes M] [--seed S]
Ends with {"bench":"powercut","cuts":…,"acked":…,"lost":…,"broken_chains":…,…}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from enum import IntEnum
from pathlib import Path

HERE = Path(__file__).resolve().parent
# `python bench/powercut.py` puts bench/ first on sys.path, where bench/sync.py would shadow the
# `sync` package: put the repo there instead (as bench/sync.py does).
sys.path[:1] = [str(HERE.parent), str(HERE.parent / "tests" / "powercut")]

from nodecuts import NodeTally, cut_init, cut_node, recover_init  # noqa: E402
from powercuts import Tally, cycle  # noqa: E402
from stackcuts import CloudTally, catch_up, cut_stack  # noqa: E402
from syncproc import free_port  # noqa: E402

from bench.honest import print_machine  # noqa: E402


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
    store, node, stack, clouds, port = Tally(), NodeTally(), NodeTally(), CloudTally(), free_port()
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="powercut-") as tmp:
        root = Path(tmp)
        for i in range(args.cuts):
            if time.monotonic() > deadline:
                break
            if i % 3 == 0:
                cycle(root / "store-disk", root / "store-mnt", rng, store)
            elif i % 3 == 2:
                cut_stack(root / "stack-disk", root / "stack-mnt", port, rng, stack, clouds)
                stack.cuts += 1
            elif node.cuts == 0 or rng.random() < 1 / 6:
                cut_init(root / "node-disk", root / "node-mnt", rng, node,
                         "state" if node.cuts == 0 else f"fresh{i}")  # fmt: skip
                recover_init(root / "node-disk", root / "node-mnt", node)
                node.cuts += 1
                node.kinds["init"] = node.kinds.get("init", 0) + 1
            else:
                cut_node(root / "node-disk", root / "node-mnt", rng, node)
                node.cuts += 1
                node.kinds["node"] = node.kinds.get("node", 0) + 1
            if (i + 1) % 20 == 0:
                print(f"powercut: {i + 1} cuts, {store.acked + node.acked + stack.acked} acked, "
                      f"{store.lost + node.lost + stack.lost} lost", file=sys.stderr)  # fmt: skip
        if stack.cuts and not catch_up(root / "stack-disk", root / "stack-mnt", port):
            stack.problems.append("sync did not catch up with the box after the cuts")
    problems = [*store.problems, *node.problems, *stack.problems]
    for problem in problems:
        print(f"powercut: {problem}", file=sys.stderr)
    tallies = (store, node, stack)
    print(json.dumps({
        "bench": "powercut", "cuts": sum(t.cuts for t in tallies),
        "acked": sum(t.acked for t in tallies), "lost": sum(t.lost for t in tallies),
        "broken_chains": sum(t.broken_chains for t in tallies),
        "cloud_duplicates": clouds.duplicates, "cloud_gaps": clouds.gaps,
        "cloud_forks": clouds.forks, "cloud_ahead_of_box": clouds.ahead_of_box,
        "store_cuts": store.cuts, "node_cuts": node.kinds, "stack_cuts": stack.cuts,
        "failed_starts": sum(t.failed_starts for t in tallies), "problems": len(problems),
        "seconds": round(time.monotonic() - started, 1), "seed": args.seed,
    }))  # fmt: skip
    return Exit.OK if not problems else Exit.LOST


if __name__ == "__main__":
    sys.exit(main())
