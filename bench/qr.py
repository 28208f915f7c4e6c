"""Payment QR benchmark: cold generation per order code, and the cached lookup.

Floor, measured in the same run: the qrcode library alone making the same codes (its own mask
choice: build and score all 8). Cold = everything the pay page needs the first time an order is
shown: payload + matrix (our bit-parallel mask choice) + PNG. Cached = the same call again.
Ends with one JSON line. Goals here: cold <= 15 ms, cached <= 0.1 ms.

Usage: python bench/qr.py [--codes N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path[:1] = [str(Path(__file__).resolve().parents[1])]  # the repo, not bench/, first

import qrcode  # noqa: E402
import qrcode.constants  # noqa: E402

from appliance.domain.money import Money  # noqa: E402
from appliance.payments.config import PixRail  # noqa: E402
from appliance.payments.reference import order_reference  # noqa: E402
from appliance.payments.registry import RailRegistry  # noqa: E402
from bench.honest import print_machine  # noqa: E402


def p50(samples: list[float]) -> float:
    """The median, in seconds."""
    return statistics.median(samples)


def main() -> None:
    """Run the benchmark and print the JSON line last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=300)
    args = parser.parse_args()
    print_machine("bench/qr.py")
    rail = PixRail(key="+5511999998888", merchant="PASTELARIA DEMO", city="SAO PAULO")
    registry = RailRegistry({"pix": rail}, "BRL", cache_size=args.codes)
    orders = [(Money(1000 + 7 * n, "BRL"), order_reference(n + 1)) for n in range(args.codes)]
    registry.qr("pix", Money(1, "BRL"), "WARM")  # import-time and per-version tables, once

    floor, cold, code_only, cached = [], [], [], []
    for amount, reference in orders:
        text = registry.payload("pix", amount, reference)
        t0 = time.perf_counter()
        made = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
        made.add_data(text)
        made.make(fit=True)
        floor.append(time.perf_counter() - t0)
    for amount, reference in orders:
        t0 = time.perf_counter()
        code = registry.qr("pix", amount, reference)  # payload + matrix
        t1 = time.perf_counter()
        code.png()  # what the pay page serves, rendered once per code
        t2 = time.perf_counter()
        code_only.append(t1 - t0)
        cold.append(t2 - t0)
    for amount, reference in orders:
        t0 = time.perf_counter()
        registry.qr("pix", amount, reference).png()
        cached.append(time.perf_counter() - t0)

    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    print(f"{args.codes} Pix order codes, level M, version {code.version}")
    print(f"floor: qrcode alone (best of 8 masks), matrix only  p50 {p50(floor) * 1e3:6.2f} ms")
    print(f"ours: payload + matrix                             p50 {p50(code_only) * 1e3:6.2f} ms"
          f"  ({p50(floor) / p50(code_only):.1f}x faster than the floor)")  # fmt: skip
    print(f"cold: payload + matrix + PNG                       p50 {p50(cold) * 1e3:6.2f} ms"
          f"  ({p50(cold) / p50(floor):.2f}x the floor; goal <= 15 ms)")  # fmt: skip
    print(f"cached: the same code again (PNG included)         p50 {p50(cached) * 1e6:6.2f} us"
          "  (goal <= 100 us)")  # fmt: skip
    print(json.dumps({
        "bench": "qr",
        "cold_p50_us": round(p50(cold) * 1e6, 1),
        "cached_p50_us": round(p50(cached) * 1e6, 2),
        "floor_p50_us": round(p50(floor) * 1e6, 1),
        "code_p50_us": round(p50(code_only) * 1e6, 1),
        "cold_vs_floor": round(p50(cold) / p50(floor), 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
