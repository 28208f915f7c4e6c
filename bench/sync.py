"""Sync benchmark: how fast a backlog drains to the cloud, against raw Ed25519 verification.

Measured in one run on this machine, with real processes (`stallbox cloud`, `stallbox sync`):
- floor: Ed25519 verifications per second on one core (`cryptography`), the one cost the cloud
  cannot avoid per receipt;
- drain: a 100,000-receipt backlog shipped by `stallbox sync --once` to a cloud on SQLite,
  every batch proven (checkpoint signature, inclusion, consistency) before acked_seq moves;
- pg_4dev: four boxes draining at once into one cloud on a private PostgreSQL server, with the
  CPU time per receipt of the cloud, of the PostgreSQL server's backends and of the four boxes
  (`pg_cpu_us`): on a shared machine the receipts/s move 2-4x with the load, the CPU per receipt
  by a few per cent.
In rounds (default 3; the floor measured in each, the JSON line holds the medians, every round
is printed). Ends with one JSON line. Goals (issue 18): drain >= 0.8x the floor; 4 devices into
PostgreSQL >= 0.6x it. No PostgreSQL server binaries is an error naming the package
(exit 4) unless --no-postgres says to skip that part; a failed `sync --once` exits 3.

Usage: python bench/sync.py [--receipts N] [--pg-receipts N] [--rounds N] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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

from bench.honest import BenchError, Exit, MissingTool, Unmeasured, fail, print_machine  # noqa: E402


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
            raise Unmeasured(f"sync --once failed:\n{out}")
    return time.perf_counter() - t0


def backlog(root: Path, name: str, receipts: int, cloud_state: Path, url: str, *extra: str) -> Path:
    """A box with `receipts` sales, enrolled with the cloud and never synced."""
    box = root / name
    make_sales(box, receipts)
    enrol(box, cloud_state, url, *extra)
    return box


def drain_round(root: Path, receipts: int) -> tuple[float, float]:
    """One round: the verify floor, then a backlog drained to a SQLite cloud; (floor, per s)."""
    floor = verify_floor()
    cloud = start_cloud(root / "cloud")
    try:
        box = backlog(root, "box", receipts, root / "cloud", cloud.url)
        seconds = drain([box])
    finally:
        cloud.stop()
    return floor, (receipts + 1) / seconds  # and the start receipt


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu(server: str) -> float:
    """CPU seconds of the live children of the private server's postmaster (its backends)."""
    host = dict(part.split("=", 1) for part in server.split())["host"]
    postmaster = int((Path(host) / "data" / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            total += cpu_seconds(int(entry.name)) if parent == postmaster else 0.0
        except OSError:
            continue  # ended meanwhile
    return total


def children_cpu() -> float:
    """CPU seconds of the children this process has waited for (the boxes' `sync --once`)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pg_round(root: Path, receipts: int) -> tuple[float, dict[str, float]]:
    """Four boxes draining at once into one cloud on PostgreSQL (fsync on).

    Returns receipts/s and the CPU µs per receipt of the cloud, the server and the boxes.
    """
    total = 4 * (receipts + 1)
    try:
        with temporary_server(fsync=True) as server:
            dsn = new_database(server)
            cloud = start_cloud(root / "pgcloud", 0, "--postgres", dsn)
            try:
                boxes = [
                    backlog(
                        root, f"pg{i}", receipts, root / "pgcloud", cloud.url, "--postgres", dsn
                    )
                    for i in range(4)
                ]
                before = (cpu_seconds(cloud.process.pid), backends_cpu(server), children_cpu())
                seconds = drain(boxes)
                after = (cpu_seconds(cloud.process.pid), backends_cpu(server), children_cpu())
            finally:
                cloud.stop()
    except NoPostgres as exc:
        raise MissingTool(
            f"bench/sync.py needs a PostgreSQL server ({exc}): install the Debian package"
            " `postgresql` (or run `./dev bench`), or pass --no-postgres"
        ) from exc
    cpu = {
        name: round((b - a) / total * 1e6, 1)
        for name, a, b in zip(("cloud", "postgres", "boxes"), before, after, strict=True)
    }
    return total / seconds, cpu


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line; non-zero when something was not measured."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--pg-receipts", type=int, default=20_000, help="per device, 4 devices")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    args = parser.parse_args(argv)
    machine = print_machine("bench/sync.py")
    floors: list[float] = []
    drains: list[float] = []
    pgs: list[float] = []
    pg_cpus: list[dict[str, float]] = []
    try:
        for n in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory(prefix="stallbox-bench-sync-") as tmp:
                floor, rate = drain_round(Path(tmp), args.receipts)
                pg, pg_cpu = (
                    (None, {}) if args.no_postgres else pg_round(Path(tmp), args.pg_receipts)
                )
            floors.append(floor)
            drains.append(rate)
            line = (
                f"round {n}: floor {floor:.0f} Ed25519 verifications/s on one core; drain"
                f" {rate:.0f} receipts/s ({rate / floor:.2f}x floor)"
            )
            if pg is not None:
                pgs.append(pg)
                pg_cpus.append(pg_cpu)
                line += f"; 4 devices into PostgreSQL {pg:.0f}/s ({pg / floor:.2f}x)"
                line += " (CPU µs per receipt: " + ", ".join(f"{k} {v}" for k, v in pg_cpu.items())
                line += ")"
            print(line, flush=True)
        if not drains:
            raise Unmeasured("no round ran (--rounds 0)")
    except BenchError as exc:
        return fail(exc)
    floor, rate = statistics.median(floors), statistics.median(drains)
    pg_rate = statistics.median(pgs) if pgs else None
    print(
        f"medians of {len(drains)} rounds: drain {rate / floor:.2f}x the floor (goal >= 0.8)"
        + (
            ""
            if pg_rate is None
            else f"; PostgreSQL 4 devices {pg_rate / floor:.2f}x (goal >= 0.6)"
        )
    )
    print(json.dumps({
        "bench": "sync", "floor_verify_per_s": round(floor), "drain_per_s": round(rate),
        "pg_4dev_per_s": None if pg_rate is None else round(pg_rate),
        "drain_vs_floor": round(rate / floor, 3),
        "pg_4dev_vs_floor": None if pg_rate is None else round(pg_rate / floor, 3),
        "receipts": args.receipts + 1, "rounds": [
            {"floor": round(f), "drain_per_s": round(d)} for f, d in zip(floors, drains, strict=True)
        ], "pg_rounds": [round(p) for p in pgs],
        "pg_cpu_us": {k: statistics.median(c[k] for c in pg_cpus) for k in pg_cpus[0]} if pg_cpus else None,
        "pg_cpu_rounds": pg_cpus, "machine": machine,
    }))  # fmt: skip
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
