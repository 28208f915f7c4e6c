"""Ledger benchmark: a sale's durable confirm against the disk's own commit floor.

Measured in one run on one disk: the floor (stdlib sqlite3 single-row INSERT+COMMIT at
WAL/synchronous=FULL), one sale's confirm latency (p50/p99), and sales/s with 32 concurrent
confirmers. Ends with one JSON line. Goals: sale p50 <= 2x floor p50; sales/s(32) >= floor commits/s.

Usage: python bench/ledger.py [--dir DIR] [--sales N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.domain.catalog import Item
from appliance.domain.money import Money
from appliance.services.box import Box, init_state
from appliance.services.checkout import Checkout
from appliance.store.connection import PRAGMAS
from appliance.store.orders import sync_catalog


def pct(samples: list[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def floor(directory: Path, n: int) -> tuple[list[float], float]:
    """Raw sqlite3: single-row INSERT + COMMIT, WAL, synchronous=FULL. Returns (times, commits/s)."""
    conn = sqlite3.connect(directory / "floor.db", isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, line TEXT NOT NULL)")
    payload = "x" * 200  # about a receipt line
    times = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (line) VALUES (?)", (payload,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    conn.close()
    return times, n / elapsed


async def prepare(checkout: Checkout, n: int) -> list[str]:
    """Orders waiting for a cash payment, ready to confirm."""
    ids = []
    for _ in range(n):
        order = await checkout.create_order()
        await checkout.add_line(order.id, "tea", 1)
        await checkout.choose_tender(order.id, "cash")
        ids.append(order.id)
    return ids


async def sales(directory: Path, n: int) -> tuple[float, float, float]:
    """Returns (confirm p50 s, confirm p99 s, sales/s with 32 concurrent confirmers)."""
    state = directory / "state"
    init_state(state, "BRL", datetime.now(UTC))
    box = Box.open(state, "BRL")
    try:
        checkout = Checkout(box)
        tea = Item("tea", "Tea", Money(500, "BRL"), None)
        await box.writer.run(lambda conn: sync_catalog(conn, [tea]))
        ids = await prepare(checkout, n)
        times = []
        for order_id in ids:
            t0 = time.perf_counter()
            await checkout.confirm(order_id)
            times.append(time.perf_counter() - t0)

        ids = await prepare(checkout, n * 2)
        queue = iter(ids)

        async def confirmer() -> None:
            for order_id in queue:
                await checkout.confirm(order_id)

        start = time.perf_counter()
        await asyncio.gather(*(confirmer() for _ in range(32)))
        rate = len(ids) / (time.perf_counter() - start)
        return pct(times, 0.5), pct(times, 0.99), rate
    finally:
        box.close()


def main() -> None:
    """Run the benchmark and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="a dir on the disk to test")
    parser.add_argument("--sales", type=int, default=1000)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="stallbox-bench-", dir=args.dir))
    try:
        # the floor before and after the sales, so disk noise weighs on both sides alike
        before, rate_before = floor(directory, args.sales // 2)
        sale_p50, sale_p99, rate32 = asyncio.run(sales(directory, args.sales))
        after, rate_after = floor(directory, args.sales // 2)
        floor_p50, floor_rate = pct(before + after, 0.5), (rate_before + rate_after) / 2
    finally:
        shutil.rmtree(directory)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}, sqlite {sqlite3.sqlite_version}")
    print(f"floor commit p50 {floor_p50 * 1e3:.3f} ms, {floor_rate:.0f} commits/s")
    ratio = sale_p50 / floor_p50
    print(f"sale confirm p50 {sale_p50 * 1e3:.3f} ms ({ratio:.2f}x floor, goal <= 2x)")
    print(f"sale confirm p99 {sale_p99 * 1e3:.3f} ms")
    print(f"sales/s with 32 confirmers {rate32:.0f} ({rate32 / floor_rate:.2f}x floor, goal >= 1x)")
    print(json.dumps({
        "bench": "ledger",
        "floor_commit_p50_ms": round(floor_p50 * 1e3, 4),
        "sale_p50_ms": round(sale_p50 * 1e3, 4),
        "sale_p99_ms": round(sale_p99 * 1e3, 4),
        "floor_commits_per_s": round(floor_rate, 1),
        "sales_per_s_32": round(rate32, 1),
        "sale_p50_vs_floor": round(sale_p50 / floor_p50, 3),
        "sales_32_vs_floor": round(rate32 / floor_rate, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
