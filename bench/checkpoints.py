"""Lone sales on an SD card, with the WAL's checkpoints in their COMMITs or off them.

By default SQLite copies the write-ahead log back into the database file inside the COMMIT that
finds the log past 1,000 pages: for the node, one lone sale's COMMIT in ~120, which that sale waits
for (and, on a quick disk where a lone sale commits inline, the event loop too). The node now leaves
that to appliance/store/checkpoint.py (its own connection and thread, every 2 s while there were
commits). This bench measures what a lone sale's confirm sees either way, on the filesystem
bench/pi.py uses for a Pi's card (tests/powercut/lossyfs.py with an fsync delay, `--fsync-ms`, 5 ms
by default), rounds alternating: `inline` (SQLite's default) and `checkpointer` (the node's). A
confirm "carried a checkpoint" when the database file was written during it. Floor: a raw SQLite
commit's p50 on the same card, in the same run.

Usage: python bench/checkpoints.py [--fsync-ms 5] [--rounds 3] [--sales 1200]
Ends with {"bench":"checkpoints", …}: per mode the medians of the rounds' p50, p99 and max,
and those over the floor. Exit 4 without FUSE, 3 when a round confirmed nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:1] = [str(REPO), str(REPO / "tests" / "powercut")]  # the repo, not bench/, first

from lossymount import LossyMount  # noqa: E402

from appliance.store.checkpoint import Checkpointer  # noqa: E402
from appliance.store.connection import DB_NAME  # noqa: E402
from bench.honest import (  # noqa: E402
    BenchError,
    Exit,
    Unmeasured,
    fail,
    median,
    pct,
    print_machine,
    require_fuse,
)
from bench.ledger import floor as commit_floor  # noqa: E402
from bench.sale_setup import prepare, tea_box  # noqa: E402

BENCH = "bench/checkpoints.py"
MODES = ("inline", "checkpointer")


async def sales(state: Path, count: int, mode: str) -> tuple[list[float], list[float]]:
    """`count` lone confirms on a new box in `state`: every confirm's seconds, and those that
    carried a checkpoint (the database file written meanwhile)."""
    async with tea_box(state) as (box, checkout):
        checkpointer = Checkpointer(box.writer) if mode == "checkpointer" else None
        task = asyncio.create_task(checkpointer.run()) if checkpointer is not None else None
        db = state / DB_NAME
        times, carried = [], []
        try:
            for order_id in await prepare(checkout, count):
                written = db.stat().st_mtime_ns
                started = time.perf_counter()
                await checkout.confirm(order_id)
                times.append(time.perf_counter() - started)
                if db.stat().st_mtime_ns != written:
                    carried.append(times[-1])
        finally:
            if task is not None and checkpointer is not None:
                task.cancel()
                checkpointer.close()
    if not times:
        raise Unmeasured(f"the {mode} round confirmed nothing")
    return times, carried


def measure(args: argparse.Namespace, root: Path) -> dict[str, object]:
    """The floor, then the rounds alternating the two modes on the card."""
    card = LossyMount.start(root / "card-backing", root / "card", fsync_delay_ms=args.fsync_ms)
    try:
        floor_ms = median(commit_floor(card.path, 40)[0]) * 1e3
        print(f"floor: a raw SQLite commit on the card, p50 {floor_ms:.2f} ms", flush=True)
        rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        for n in range(1, args.rounds + 1):
            for mode in MODES:
                times, carried = asyncio.run(sales(card.path / f"{mode}{n}", args.sales, mode))
                one = {"p50_ms": median(times) * 1e3, "p99_ms": pct(times, 0.99) * 1e3,
                       "max_ms": max(times) * 1e3, "carried": len(carried),
                       "carried_p50_ms": median(carried) * 1e3 if carried else 0.0}  # fmt: skip
                rounds[mode].append(one)
                print(f"round {n} {mode}: " + ", ".join(f"{k} {v:.1f}" for k, v in one.items()),
                      flush=True)  # fmt: skip
    finally:
        card.unmount()
    result: dict[str, object] = {"bench": "checkpoints", "fsync_ms": args.fsync_ms,
                                 "floor_commit_p50_ms": round(floor_ms, 2), "sales": args.sales}  # fmt: skip
    for mode in MODES:
        for key in ("p50_ms", "p99_ms", "max_ms"):
            figure = median([r[key] for r in rounds[mode]])
            result[f"{mode}_{key}"] = round(figure, 2)
            result[f"{mode}_{key[:-3]}_vs_floor"] = round(figure / floor_ms, 2)
    result["rounds"] = rounds
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print each round and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsync-ms", type=float, default=5.0, help="the SD card's fsync delay")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sales", type=int, default=1200, help="lone confirms per round")
    args = parser.parse_args(argv)
    try:
        require_fuse(BENCH)
        machine = print_machine(BENCH)
        with tempfile.TemporaryDirectory(prefix="stallbox-checkpoints-") as tmp:
            result = measure(args, Path(tmp))
    except BenchError as exc:
        return fail(exc)
    print(json.dumps({**result, "machine": machine}))
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
