"""Pass verification benchmark: decode + signature + revocation lookup against one Ed25519 verify.

A creator-signed pass with four entitlements is verified by a box whose trust store holds a
delegation and a revocation list of 100,000 ids (--revoked), over --rounds rounds of --n
verifies each. The floor is a bare Ed25519 verify of a 64-byte signature over the same signed
bytes, timed in the same rounds. Ends with one JSON line; goal: verify_p50_us <= 1.5 x
floor_verify_us. Exits 1 if it could not measure (the pass did not verify, or a revoked one did).

Usage: python bench/passes.py [--n N] [--rounds R] [--revoked K]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "passes"))
from make_vectors import NOW, YEAR, card, key

from appliance.passes.errors import PassRefused
from appliance.passes.model import Entitlement, Kind, Period
from appliance.passes.trust import TrustStore, delegate, issue_pass, revocation_id, revocation_list


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Return the mean microseconds of one call of `fn` over `n` calls."""
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line last; 1 if it could not measure."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="verifies per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--revoked", type=int, default=100_000, help="ids in the revocation list")
    args = parser.parse_args(argv)
    ana, box = key("creator ana"), key("box 1")
    trust = TrustStore({"creator:ana": ana.public_key()})
    trust.add_delegation(delegate(ana, "creator:ana", box.public_key(), "box 1", YEAR))
    revoked_card = card(5, "creator:ana")
    ids = [hashlib.sha256(i.to_bytes(4, "big")).digest()[:16] for i in range(args.revoked - 1)]
    trust.add_revocations(
        revocation_list(
            ana, "creator:ana", [*ids, revocation_id("creator:ana", revoked_card.pass_id)], NOW
        )
    )
    grants = (
        Entitlement(Kind.PERCENT_OFF, 10, ("pastel", "caldo")),
        Entitlement(Kind.AMOUNT_OFF, 500, ("combo",), currency="BRL"),
        Entitlement(Kind.EARLY_ACCESS, 30),
        Entitlement(Kind.ALLOWANCE, 1, ("caldo",), period=Period.DAY),
    )
    text = issue_pass(box, card(1, "creator:ana", grants=grants))
    try:
        trust.verify(text, NOW)
        trust.verify(issue_pass(ana, revoked_card), NOW)
    except PassRefused as exc:
        if exc.reason != "revoked":
            print(f"could not measure: the bench pass was refused ({exc})", file=sys.stderr)
            return 1
    else:
        print("could not measure: a revoked pass verified", file=sys.stderr)
        return 1
    floor_key = Ed25519PrivateKey.generate()
    message = os.urandom(len(text))
    signature = floor_key.sign(message)
    floor_public = floor_key.public_key()
    verify_us, floor_us = [], []
    for _ in range(args.rounds):
        floor_us.append(per_call_us(lambda: floor_public.verify(signature, message), args.n))
        verify_us.append(per_call_us(lambda: trust.verify(text, NOW), args.n))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"pass: {len(text)} characters; revocation list: {args.revoked} ids; {args.rounds} rounds x {args.n}"
    )
    print("floor (Ed25519 verify) us per round: " + " ".join(f"{x:.1f}" for x in floor_us))
    print("pass verify us per round:            " + " ".join(f"{x:.1f}" for x in verify_us))
    verify_p50, floor_p50 = statistics.median(verify_us), statistics.median(floor_us)
    print(f"ratio: {verify_p50 / floor_p50:.2f} x the verify floor (goal <= 1.5)")
    result = {
        "bench": "passes",
        "verify_p50_us": round(verify_p50, 1),
        "floor_verify_us": round(floor_p50, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
