"""What every bench shares so that none can lie: the machine line, required tools, exit codes.

A bench whose figure was not measured must not print one: a missing tool is an error naming the
Debian package that provides it (`./dev bench` installs them), and a part that could not be
measured ends the run with a non-zero exit code after saying which part and why. Every bench
prints the machine it ran on (CPU model, CPUs it may use, load average: the machine is shared,
so the load says how noisy the run was), its floors and each of its rounds.
"""

from __future__ import annotations

import compileall
import os
import platform
import shutil
import sqlite3
import statistics
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path


class Exit(IntEnum):
    """Exit codes shared by the benches."""

    OK = 0
    USAGE = 2
    UNMEASURED = 3  # a part of the bench ran but could not measure its figure
    MISSING_TOOL = 4  # a tool the bench needs is not installed


class BenchError(Exception):
    """A bench cannot give an honest figure."""

    exit_code = Exit.UNMEASURED


class MissingTool(BenchError):
    """A tool the bench needs is not on PATH."""

    exit_code = Exit.MISSING_TOOL


class Unmeasured(BenchError):
    """A part of the bench ran but could not measure its figure."""


def require(tool: str, package: str, bench: str) -> str:
    """The path of `tool`, or MissingTool naming the Debian `package` that provides it."""
    path = shutil.which(tool)
    if path is None:
        raise MissingTool(
            f"{bench} needs `{tool}`, which is not on PATH: install the Debian package "
            f"`{package}` (apt-get install {package}), or run `./dev bench`, which installs it"
        )
    return path


def require_fuse(bench: str) -> None:
    """MissingTool unless this machine can mount the SD card's filesystem (fuse3 and /dev/fuse)."""
    require("fusermount3", "fuse3", bench)
    if not os.path.exists("/dev/fuse"):
        raise MissingTool(f"{bench} needs /dev/fuse for the SD card's filesystem")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform.processor())."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> dict[str, object]:
    """The machine a bench ran on, for its JSON line."""
    load = os.getloadavg()
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "load_1m": round(load[0], 2),
    }


def print_machine(bench: str) -> dict[str, object]:
    """Print the machine line and return it (for the JSON line)."""
    info = machine()
    print(
        f"{bench} on {info['arch']} {info['cpu']}, {info['cpus']} CPUs (may use {info['affinity']}),"
        f" {info['python']}, SQLite {info['sqlite']}, kernel {info['kernel']}; load average"
        f" {info['load_1m']} (a shared machine: other loads move these figures)",
        flush=True,
    )
    return info


def as_installed(repo: Path) -> None:
    """Compile the box's packages to bytecode, as a box is installed (install/install-pi.sh: pip
    and compileall), before a bench starts its processes from this checkout.

    A checkout has no bytecode until something writes it, and with PYTHONDONTWRITEBYTECODE set
    (this VM sets it for everything) nothing ever does: every process started from the checkout
    compiled appliance/, tui/ and sync/ from source again, ~9% of a console's start (py-spy:
    `source_to_code`), 0.33 s of CPU against 0.29-0.31 s with the bytecode an installed box
    has. Compiling writes only __pycache__/ (ignored by git) and is a no-op when it is current.
    """
    for package in ("appliance", "tui", "sync"):
        if not compileall.compile_dir(str(repo / package), quiet=1):
            raise Unmeasured(f"{repo / package}: could not be compiled to bytecode")


def pct(samples: Sequence[float], q: float) -> float:
    """The q-quantile of samples (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: Sequence[float]) -> float:
    """The median of rounds; Unmeasured when there is none."""
    if not values:
        raise Unmeasured("no round measured anything")
    return float(statistics.median(values))


def fail(exc: BenchError) -> int:
    """Say why a bench could not measure and return its exit code."""
    print(f"bench: {exc}", file=sys.stderr, flush=True)
    return int(exc.exit_code)
