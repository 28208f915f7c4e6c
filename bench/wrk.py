"""wrk, the load generator of the HTTP benches, run and read so that a failed run cannot pass.

A wrk run that answered nothing, or answered with errors (non-2xx/3xx responses, socket
errors other than the timeouts a latency test at 200 connections may see), is Unmeasured,
never a small number. wrk itself is required: bench/honest.py names its Debian package.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from bench.honest import Unmeasured, require


@dataclass(frozen=True, slots=True)
class WrkRun:
    """What one wrk run measured."""

    rps: float
    requests: int
    p50_ms: float
    p99_ms: float


def _ms(out: str, label: str) -> float:
    found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\b", out, re.MULTILINE)
    if found is None:
        raise Unmeasured(f"wrk printed no {label}% latency:\n{out}")
    return float(found[1]) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[found[2]]


def wrk(
    url: str, *, seconds: float, connections: int, threads: int, bench: str, script: str = ""
) -> WrkRun:
    """Run wrk against `url` (GET, or what the Lua `script` builds) and return its figures;
    Unmeasured when it measured nothing."""
    binary = require("wrk", "wrk", bench)
    argv = [binary, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    argv += ["-s", script] if script else []
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if done.returncode != 0:
        raise Unmeasured(f"wrk exited {done.returncode}: {done.stderr.strip() or out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rate is None or total is None or int(total[1]) == 0:
        raise Unmeasured(f"wrk answered no request at {url}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if bad is not None:
        raise Unmeasured(f"{url} answered {bad[1]} requests with an error status under wrk")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors is not None and any(int(errors[i]) for i in (1, 2, 3)):
        raise Unmeasured(f"wrk saw socket errors at {url}: {errors[0]}")
    return WrkRun(float(rate[1]), int(total[1]), _ms(out, "50"), _ms(out, "99"))
