"""Power-cut soak (issue 17): hundreds of cuts under a selling box, counting what was lost.

Every cut is made by tests/powercut/lossyfs.py (a FUSE mount that keeps only what was fsynced,
sometimes a torn last write, sometimes a random subset of the unsynced writes). Half the cuts
are under the store alone (sell_child.py: eight sales in flight, group commits, WAL growth and
checkpoints, init), half under the real node with clients selling over the operator plane
(cuts during init, pairing and sales). After each: the surviving bytes must verify and hold
every sale a client was told was confirmed. Bounded by --cuts and --minutes.

The sync daemon and the cloud are not run under cuts yet: cloud_duplicates and cloud_gaps are
null (see docs/operations.md, "Power cuts").

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
sys.path.append(str(HERE.parent / "tests" / "powercut"))

from nodecuts import NodeTally, cut_init, cut_node, recover_init  # noqa: E402
from powercuts import Tally, cycle  # noqa: E402


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
    rng = random.Random(args.seed)
    store, node = Tally(), NodeTally()
    deadline = time.monotonic() + args.minutes * 60
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="powercut-") as tmp:
        root = Path(tmp)
        for i in range(args.cuts):
            if time.monotonic() > deadline:
                break
            if i % 2 == 0:
                cycle(root / "store-disk", root / "store-mnt", rng, store)
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
                print(f"powercut: {i + 1} cuts, {store.acked + node.acked} acked, "
                      f"{store.lost + node.lost} lost", file=sys.stderr)  # fmt: skip
    for problem in [*store.problems, *node.problems]:
        print(f"powercut: {problem}", file=sys.stderr)
    lost = store.lost + node.lost
    broken = store.broken_chains + node.broken_chains
    print(json.dumps({
        "bench": "powercut", "cuts": store.cuts + node.cuts, "acked": store.acked + node.acked,
        "lost": lost, "broken_chains": broken, "cloud_duplicates": None, "cloud_gaps": None,
        "store_cuts": store.cuts, "node_cuts": node.kinds, "failed_starts":
        store.failed_starts + node.failed_starts, "problems": len(store.problems) +
        len(node.problems), "seconds": round(time.monotonic() - started, 1), "seed": args.seed,
    }))  # fmt: skip
    return Exit.OK if not (store.problems or node.problems) else Exit.LOST


if __name__ == "__main__":
    sys.exit(main())
