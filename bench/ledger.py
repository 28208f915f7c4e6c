"""Ledger benchmark: a sale's durable confirm against the disk's own commit floor.

Measured in one run on one disk: the floor (stdlib sqlite3 single-row INSERT+COMMIT at
WAL/synchronous=FULL), one sale's confirm latency (p50/p99), and sales/s with 32 concurrent
confirmers. In rounds (default 3), each with its own floor measured before and after its
sales, so disk noise weighs on both sides alike; each round is printed and the JSON line holds
the medians of the rounds' figures and ratios. Goals (issue 18): sale p50 <= 1.3x the floor's
p50; sales/s with 32 confirmers >= 2.0x the floor's commits/s.

Beside them, the CPU time (this process, all threads) per floor commit, per lone sale and per
sale among 32 confirmers: on a shared machine other loads stretch the wall clock and the
disk's commits 2-10x between rounds, while CPU time per operation moves far less.

And beside the issue's floor, a like-for-like one (bench/sale_floor.py): raw sqlite3 writing the
rows and indexes a sale writes, with the read and the Ed25519 signature a sale needs, one sale
per commit and 32 per commit. `sale_p50_vs_like` and `sales_32_vs_like` say what the product's
code costs over that work; the issue's ratios stay as they were
(docs/performance/2026-12-05-sale-confirm-like-for-like-floor.md says why both are printed).

Usage: python bench/ledger.py [--dir DIR] [--sales N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path[:1] = [str(Path(__file__).resolve().parents[1])]  # the repo, not bench/, first

from appliance.store.connection import PRAGMAS  # noqa: E402
from bench.honest import BenchError, Exit, Unmeasured, fail, median, pct, print_machine  # noqa: E402
from bench.sale_floor import sale_floor  # noqa: E402
from bench.sale_setup import prepare, tea_box  # noqa: E402


def floor(directory: Path, n: int) -> tuple[list[float], float, float]:
    """Raw sqlite3: single-row INSERT + COMMIT, WAL, synchronous=FULL.

    Returns (times, commits/s, CPU seconds per commit).
    """
    conn = sqlite3.connect(directory / "floor.db", isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, line TEXT NOT NULL)")
    payload = "x" * 200  # about a receipt line
    times = []
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (line) VALUES (?)", (payload,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return times, n / elapsed, cpu / n


async def sales(directory: Path, n: int) -> tuple[float, float, float, float, float]:
    """Returns (confirm p50 s, confirm p99 s, sales/s with 32 concurrent confirmers, and the
    CPU seconds per lone sale and per sale with 32 confirmers)."""
    async with tea_box(directory / "state") as (_, checkout):
        ids = await prepare(checkout, n)
        times = []
        cpu = time.process_time()
        for order_id in ids:
            t0 = time.perf_counter()
            await checkout.confirm(order_id)
            times.append(time.perf_counter() - t0)
        cpu_lone = (time.process_time() - cpu) / len(ids)

        ids = await prepare(checkout, n * 2)
        queue = iter(ids)

        async def confirmer() -> None:
            for order_id in queue:
                await checkout.confirm(order_id)

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(confirmer() for _ in range(32)))
        rate = len(ids) / (time.perf_counter() - start)
        cpu_32 = (time.process_time() - cpu) / len(ids)
        return pct(times, 0.5), pct(times, 0.99), rate, cpu_lone, cpu_32


def one_round(directory: Path, sales_n: int) -> dict[str, float]:
    """One round: both floors, sales, both floors again; its figures."""
    before, rate_before, cpu_before = floor(directory, sales_n // 2)
    like_before = sale_floor(directory, sales_n // 2)
    sale_p50, sale_p99, rate32, cpu_lone, cpu_32 = asyncio.run(sales(directory, sales_n))
    like_after = sale_floor(directory, sales_n // 2)
    after, rate_after, cpu_after = floor(directory, sales_n // 2)
    floor_p50, floor_rate = pct(before + after, 0.5), (rate_before + rate_after) / 2
    like_p50 = pct(like_before[0] + like_after[0], 0.5)
    like_rate = (like_before[1] + like_after[1]) / 2
    if not floor_p50 > 0 or not floor_rate > 0 or not like_p50 > 0 or not like_rate > 0:
        raise Unmeasured("a floor measured no commit time")
    return {
        "floor_commit_p50_ms": floor_p50 * 1e3, "sale_p50_ms": sale_p50 * 1e3,
        "sale_p99_ms": sale_p99 * 1e3, "floor_commits_per_s": floor_rate, "sales_per_s_32": rate32,
        "sale_p50_vs_floor": sale_p50 / floor_p50, "sales_32_vs_floor": rate32 / floor_rate,
        "floor_cpu_ms_per_commit": (cpu_before + cpu_after) / 2 * 1e3,
        "sale_cpu_ms": cpu_lone * 1e3, "sale_cpu_ms_32": cpu_32 * 1e3,
        "like_sale_p50_ms": like_p50 * 1e3, "like_sales_per_s_32": like_rate,
        "sale_p50_vs_like": sale_p50 / like_p50, "sales_32_vs_like": rate32 / like_rate,
        "like_cpu_ms": (like_before[2] + like_after[2]) / 2 * 1e3,
        "like_cpu_ms_32": (like_before[3] + like_after[3]) / 2 * 1e3,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line; non-zero when something was not measured."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="a dir on the disk to test")
    parser.add_argument("--sales", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    machine = print_machine("bench/ledger.py")
    rounds: list[dict[str, float]] = []
    try:
        for n in range(1, args.rounds + 1):
            directory = Path(tempfile.mkdtemp(prefix="stallbox-bench-", dir=args.dir))
            try:
                one = one_round(directory, args.sales)
            finally:
                shutil.rmtree(directory)
            rounds.append(one)
            print(
                f"round {n}: floor commit p50 {one['floor_commit_p50_ms']:.3f} ms,"
                f" {one['floor_commits_per_s']:.0f} commits/s; sale p50 {one['sale_p50_ms']:.3f} ms"
                f" ({one['sale_p50_vs_floor']:.2f}x), p99 {one['sale_p99_ms']:.3f} ms; 32 confirmers"
                f" {one['sales_per_s_32']:.0f}/s ({one['sales_32_vs_floor']:.2f}x); CPU per floor"
                f" commit {one['floor_cpu_ms_per_commit']:.3f} ms, per lone sale"
                f" {one['sale_cpu_ms']:.3f} ms, per sale of 32 {one['sale_cpu_ms_32']:.3f} ms;"
                f" like-for-like floor: sale p50 {one['like_sale_p50_ms']:.3f} ms"
                f" ({one['sale_p50_vs_like']:.2f}x), 32 per commit {one['like_sales_per_s_32']:.0f}/s"
                f" ({one['sales_32_vs_like']:.2f}x), CPU {one['like_cpu_ms']:.3f} /"
                f" {one['like_cpu_ms_32']:.3f} ms",
                flush=True,
            )
        figures = {key: median([r[key] for r in rounds]) for key in rounds[0]} if rounds else {}
        if not figures:
            raise Unmeasured("no round ran (--rounds 0)")
    except BenchError as exc:
        return fail(exc)
    print(f"medians of {args.rounds} rounds: sale p50 {figures['sale_p50_vs_floor']:.2f}x the floor"
          f" (goal <= 1.3); 32 confirmers {figures['sales_32_vs_floor']:.2f}x the floor's commits/s"
          " (goal >= 2.0); against the like-for-like floor (bench/sale_floor.py): sale p50"
          f" {figures['sale_p50_vs_like']:.2f}x, 32 confirmers {figures['sales_32_vs_like']:.2f}x")  # fmt: skip
    print(json.dumps({
        "bench": "ledger", **{key: round(value, 4) for key, value in figures.items()},
        "rounds": [{key: round(value, 4) for key, value in r.items()} for r in rounds],
        "sales": args.sales, "machine": machine,
    }))  # fmt: skip
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
