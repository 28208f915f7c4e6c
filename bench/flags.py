"""Flag evaluation benchmark: one visitor's variant of a 50/50 fractional flag, in microseconds.

Evaluates the cart-upsell flag of docs/flags.md (flagd `fractional`, murmur3 bucketing) for
--visitors distinct visitor ids, --rounds times; reports the median per-evaluation time. Goal:
eval_p50_us <= 5. The issue's cart_rps figures need the node to serve flags on the cart page,
which is not built yet; this bench does not print them. Exits 1 if the split is not within 1%
of 50/50 (then it measured the wrong thing).

Usage: python bench/flags.py [--visitors N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid

from appliance.flags.evaluate import FlagSet

DOCUMENT = {
    "flags": {
        "cart-upsell": {
            "state": "ENABLED",
            "variants": {"control": None, "pastel": {"sku": "pastel", "price": 500}},
            "defaultVariant": "control",
            "targeting": {"fractional": [["control", 50], ["pastel", 50]]},
        }
    }
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line last; 1 if it could not measure."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    flags = FlagSet.from_document(DOCUMENT)
    contexts = [{"targetingKey": str(uuid.UUID(int=i, version=4))} for i in range(args.visitors)]
    rounds, pastel = [], 0
    for _ in range(args.rounds):
        started = time.perf_counter()
        for context in contexts:
            flags.evaluate("cart-upsell", context, None)
        rounds.append((time.perf_counter() - started) / len(contexts) * 1e6)
    pastel = sum(flags.evaluate("cart-upsell", c, None).variant == "pastel" for c in contexts)
    share = pastel / len(contexts)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print("us per evaluation, per round: " + " ".join(f"{x:.2f}" for x in rounds))
    print(f"pastel arm share: {share:.4f} (goal 0.5 +- 0.01)")
    if abs(share - 0.5) >= 0.01:
        print(
            "could not measure: the split is off, so this is not the flag it should be",
            file=sys.stderr,
        )
        return 1
    print(json.dumps({"bench": "flags", "eval_p50_us": round(statistics.median(rounds), 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
