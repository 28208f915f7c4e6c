"""Payment QR benchmark: cold generation per order code, and the cached lookup.

Floor in the same run: the qrcode library alone making the same code (automatic mask choice,
the best of 8). Cold = payload + matrix; the PNG is timed apart (rendered once per code, then
cached like the code). Ends with one JSON line. Goals here: cold <= 15 ms, cached <= 0.1 ms.

Usage: python bench/qr.py [--codes N]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import qrcode
import qrcode.constants

from appliance.domain.money import Money
from appliance.payments.config import PixRail
from appliance.payments.reference import order_reference
from appliance.payments.registry import RailRegistry


def p50(samples: list[float]) -> float:
    """The median."""
    return sorted(samples)[len(samples) // 2]


def main() -> None:
    """Run the benchmark and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=200)
    args = parser.parse_args()
    rail = PixRail(key="+5511999998888", merchant="PASTELARIA DEMO", city="SAO PAULO")
    registry = RailRegistry({"pix": rail}, "BRL")
    orders = [(Money(1000 + n, "BRL"), order_reference(n + 1)) for n in range(args.codes)]

    floor, cold, png, cached = [], [], [], []
    for amount, reference in orders:
        text = registry.payload("pix", amount, reference)
        t0 = time.perf_counter()
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
        code.add_data(text.encode())
        code.make(fit=True)
        floor.append(time.perf_counter() - t0)
    for amount, reference in orders:
        t0 = time.perf_counter()
        code = registry.qr("pix", amount, reference)  # payload + QR matrix: the code itself
        t1 = time.perf_counter()
        code.png()  # what the pay page serves (8 px per module), rendered once per code
        t2 = time.perf_counter()
        cold.append(t1 - t0)
        png.append(t2 - t1)
    for amount, reference in orders:
        t0 = time.perf_counter()
        registry.qr("pix", amount, reference).png()
        cached.append(time.perf_counter() - t0)

    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )
    print(f"floor (qrcode alone) p50 {p50(floor) * 1e3:.2f} ms")
    ratio = p50(cold) / p50(floor)
    print(
        f"cold (payload + matrix) p50 {p50(cold) * 1e3:.2f} ms ({ratio:.2f}x floor, goal <= 15 ms)"
    )
    print(f"PNG rendering p50 {p50(png) * 1e3:.2f} ms (once per code, then cached)")
    print(f"cached p50 {p50(cached) * 1e6:.1f} us (goal <= 100 us)")
    print(json.dumps({
        "bench": "qr",
        "floor_p50_us": round(p50(floor) * 1e6, 1),
        "cold_p50_us": round(p50(cold) * 1e6, 1),
        "cached_p50_us": round(p50(cached) * 1e6, 2),
        "png_p50_us": round(p50(png) * 1e6, 1),
        "cold_vs_floor": round(p50(cold) / p50(floor), 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
