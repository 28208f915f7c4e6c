"""Sync benchmark: how fast a backlog drains to the cloud, against raw Ed25519 verification.

Measured in one run on this machine, with real processes (`stallbox cloud`, `stallbox sync`):
- floor: Ed25519 verifications per second on one core (`cryptography`), the one cost the cloud
  cannot avoid per receipt;
- drain: a 100,000-receipt backlog shipped by `stallbox sync --once` to a cloud on SQLite,
  every batch proven (checkpoint signature, inclusion, consistency) before acked_seq moves;
- pg_4dev: four boxes draining at once into one cloud on a private PostgreSQL server.
Ends with one JSON line. Goal: drain >= 50% of the floor.

Usage: python bench/sync.py [--receipts N] [--pg-receipts N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[1]
# `python bench/sync.py` puts bench/ first on sys.path, where this file would shadow the `sync`
# package; put the repo there instead, and the tests' process helpers (reused) after it.
sys.path[:1] = [str(REPO), str(REPO / "tests" / "e2e")]

from pgserver import NoPostgres, new_database, temporary_server  # noqa: E402
from syncproc import enrol, make_sales, start_cloud  # noqa: E402


def verify_floor(seconds: float = 2.0) -> float:
    """Ed25519 verifications per second on one core."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    message = b"stallbox receipt v1\n" + b"x" * 140
    signature = key.sign(message)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(200):
            public.verify(signature, message)
        count += 200
    return count / (time.perf_counter() - t0)


def drain(boxes: list[Path]) -> float:
    """Run `stallbox sync --once` for every box at once; return the seconds until all are done."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    runs = [
        subprocess.Popen([sys.executable, "-m", "appliance.cli", "sync", "--once", "--state", str(b)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for b in boxes
    ]  # fmt: skip
    for run in runs:
        out, _ = run.communicate(timeout=900)
        if run.returncode != 0:
            raise SystemExit(f"sync --once failed:\n{out}")
    return time.perf_counter() - t0


def backlog(root: Path, name: str, receipts: int, cloud_state: Path, url: str, *extra: str) -> Path:
    """A box with `receipts` sales, enrolled with the cloud and never synced."""
    box = root / name
    make_sales(box, receipts)
    enrol(box, cloud_state, url, *extra)
    return box


def main() -> None:
    """Run the benchmark and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--pg-receipts", type=int, default=20_000, help="per device, 4 devices")
    args = parser.parse_args()

    floor = verify_floor()
    print(f"floor: {floor:.0f} Ed25519 verifications/s on one core", flush=True)

    with tempfile.TemporaryDirectory(prefix="stallbox-bench-sync-") as tmp:
        root = Path(tmp)
        cloud = start_cloud(root / "cloud")
        try:
            box = backlog(root, "box", args.receipts, root / "cloud", cloud.url)
            seconds = drain([box])
        finally:
            cloud.stop()
        total = args.receipts + 1  # and the start receipt
        drain_rate = total / seconds
        print(f"drain (SQLite cloud): {total} receipts in {seconds:.1f} s = {drain_rate:.0f}/s "
              f"({drain_rate / floor:.2f}x floor, goal >= 0.5)", flush=True)  # fmt: skip

        pg_rate: float | None = None
        try:
            with temporary_server(fsync=True) as server:
                dsn = new_database(server)
                cloud = start_cloud(root / "pgcloud", 0, "--postgres", dsn)
                try:
                    boxes = [
                        backlog(root, f"pg{i}", args.pg_receipts, root / "pgcloud", cloud.url,
                                "--postgres", dsn)
                        for i in range(4)
                    ]  # fmt: skip
                    seconds = drain(boxes)
                finally:
                    cloud.stop()
            pg_rate = 4 * (args.pg_receipts + 1) / seconds
            print(f"4 devices into one cloud on PostgreSQL (fsync on): {pg_rate:.0f} receipts/s "
                  f"({pg_rate / floor:.2f}x floor)", flush=True)  # fmt: skip
        except NoPostgres as exc:
            print(f"PostgreSQL part skipped: {exc}")

    print(json.dumps({
        "bench": "sync", "floor_verify_per_s": round(floor), "drain_per_s": round(drain_rate),
        "pg_4dev_per_s": None if pg_rate is None else round(pg_rate),
        "drain_vs_floor": round(drain_rate / floor, 3), "receipts": total,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu",
    }))  # fmt: skip


if __name__ == "__main__":
    main()
