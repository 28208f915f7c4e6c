"""Full-stack fault run (issue #7): counts of what broke and proof that no shown sale was lost.

The same scenario as tests/e2e/test_full_stack_faults.py (shared in tests/e2e/stackproc.py):
`stallbox node`, `stallbox sync` and `stallbox cloud` as real processes, the cloud in a network
namespace behind a veth pair; simulated phones order while the operator confirms; the node is
SIGKILLed during sales, the cloud is stopped and restarted, the link is cut and restored. Then it
waits (bounded) for the cloud to catch up and compares the phones' receipts with the ledger, the
cloud's head and its Merkle log. Needs root (ip netns). Ends with one JSON line; exit 0 only if
every promise held.

Usage: python bench/faults.py [--node-kills N] [--cloud-outages N] [--link-cuts N] [--phones N]
       [--seed N] [--converge-s S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    """Run the fault scenario once; print counts and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-kills", type=int, default=4)
    parser.add_argument("--cloud-outages", type=int, default=2)
    parser.add_argument("--link-cuts", type=int, default=2)
    parser.add_argument("--phones", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--converge-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench/faults.py needs root and iproute2 (it creates a network namespace)")
        return 2
    sys.path[:0] = [str(REPO), str(REPO / "tests" / "e2e")]
    from stackproc import FaultPlan, run_faults

    plan = FaultPlan(
        node_kills=args.node_kills, cloud_outages=args.cloud_outages, link_cuts=args.link_cuts,
        phones=args.phones, seed=args.seed, converge_s=args.converge_s,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stallbox-faults-") as work:
        report = run_faults(Path(work), plan, say=lambda text: print(text, flush=True))
    print(
        f"sales seen as done: {report.sales_seen} of {report.attempts} attempts "
        f"({report.in_flight_failures} failed in flight, {len(report.refusals)} refused)"
    )
    print(
        f"faults: {report.node_kills} node SIGKILLs, {report.cloud_outages} cloud outages, "
        f"{report.link_cuts} link cuts; outbox during cloud/link faults: "
        f"{report.outbox_during_faults}"
    )
    print(
        f"ledger: {report.receipts} receipts, last seq {report.device_seq}, verify exit "
        f"{report.verify_rc}; cloud head {report.cloud_head}, log size {report.log_size}, "
        f"acked {report.acked_seq}; converged {report.converge_s:.1f} s after the last sale"
    )
    print(
        f"sync daemon: {report.daemon_retries} retries after transient failures, "
        f"{report.link_wakeups} of them cut short by a link change"
    )
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print(json.dumps(report.summary()))
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
