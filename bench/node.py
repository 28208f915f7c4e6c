"""Node benchmark: menu req/s against a hello-world floor, drop claims under 200 clients, RSS.

All in one run on loopback: the floor is a Starlette hello-world under the same uvicorn settings
(uvloop + httptools) measured with the same load tool (wrk when installed, else httpx); then the
real node's menu page; then drop claims by 200 concurrent clients (httpx: each claim from its
own source address, as the node limits claims per address), in three rounds on fresh drops
(latency per claim; the medians of the rounds are reported, as one round's p99 on a shared VM
moves by 10 ms from run to run); the node's peak RSS from /proc. Bounded: fixed
durations and counts. Ends with one JSON line. Goals: menu >= 50% of the floor's req/s; claim
p99 <= 50 ms; RSS <= 120 MB; and what the operator plane adds to a confirmation: the median
of 300 confirms over the console's kept-alive, pinned TLS connection (`op_confirm_p50_ms`) minus
the median of 300 of the same confirms called in-process, in turns with them, on a copy of
the box's state (`svc_confirm_p50_ms`) <= 1.0 ms. There is no plain-HTTP operator plane to compare with.

On a machine with two or more CPUs the servers run on CPU 0 and the load generator (wrk, or
this process) on the others: at a stall the phones are other devices, and a load generator that
competes for the server's core measures its own scheduling. On this 2-vCPU VM that alone takes
the hello-world floor's p99 at 200 connections from 130-430 ms to ~22 ms.

Usage: python bench/node.py [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from appliance.ledger.identity import fingerprint, load_key
from appliance.tls import state_dir_context

REPO = Path(__file__).resolve().parents[1]
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = set(_CPUS[:1]) if len(_CPUS) >= 2 else set(_CPUS)
CLIENT_CPUS = set(_CPUS[1:]) if len(_CPUS) >= 2 else set(_CPUS)
WRK_THREADS = str(max(1, min(2, len(CLIENT_CPUS))))


def on_server_cpus() -> None:
    """preexec_fn for the servers: keep them off the load generator's CPUs."""
    os.sched_setaffinity(0, SERVER_CPUS)


CLIENTS = 200
CLAIMS = 2000
ROUNDS = 3  # claim rounds, each on a fresh drop; the JSON line has their medians


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, deadline_s: float = 20) -> None:
    """Wait until `url` answers."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


def rps(url: str, seconds: int) -> float:
    """Requests per second at 64 connections (wrk, or an httpx fallback)."""
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", f"-t{WRK_THREADS}", "-c64", f"-d{seconds}s", url], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]

    async def load() -> float:
        count = 0
        stop = time.monotonic() + seconds
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:

            async def worker() -> None:
                nonlocal count
                while time.monotonic() < stop:
                    await client.get(url)
                    count += 1

            await asyncio.gather(*(worker() for _ in range(64)))
        return count / seconds

    return asyncio.run(load())


def wrk_latency(url: str, seconds: int, connections: int) -> tuple[float, float]:
    """(p50 ms, p99 ms) of plain GETs at `connections` connections (wrk only)."""
    out = subprocess.run(["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return _ms(out, "50"), _ms(out, "99")


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]


def claim_round(op_url: str, url: str, state: Path, token: str) -> tuple[float, float, float]:
    """One round of claims on a fresh drop: (p50 ms, p99 ms, claims/s)."""
    starts = datetime.now(UTC) + timedelta(seconds=1)
    drop = httpx.post(op_url + "/api/drops", headers={"Authorization": f"Bearer {token}"}, json={
        "sku": "coffee", "quantity": 100_000, "starts_at": starts.isoformat(), "hold_s": 600,
    }, verify=state_dir_context(state)).json()  # fmt: skip
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.1)
    started = time.perf_counter()
    latencies = sorted(asyncio.run(claims(url, drop["id"])))
    rate = len(latencies) / (time.perf_counter() - started)
    return latencies[len(latencies) // 2] * 1e3, latencies[int(len(latencies) * 0.99)] * 1e3, rate


def phone_address(n: int) -> str:
    """Phone n's own source address: all of 127.0.0.0/8 reaches loopback on Linux."""
    return f"127.1.{n // 250}.{n % 250 + 1}"


async def claims(url: str, drop_id: int) -> list[float]:
    """CLAIMS claims, CLIENTS at a time, each by another phone from its own address; latencies.

    The node limits claims per client address (a cookie is the client's to rotate), so one
    address for every phone would measure its refusals. Each phone opens its own connection,
    as a phone at a stall does; the time of a claim includes that loopback connect.
    """
    latencies: list[float] = []
    queue = iter(range(CLAIMS))
    no_tls = ssl.create_default_context()  # shared: a context per client costs ~ms of CPU

    async def phone() -> None:
        for n in queue:
            transport = httpx.AsyncHTTPTransport(local_address=phone_address(n), verify=no_tls)
            async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
                t0 = time.perf_counter()
                answer = await client.post(
                    f"/d/{drop_id}/claim", content=b"qty=1&tender=cash",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
                latencies.append(time.perf_counter() - t0)
                assert answer.status_code in (303, 409), answer.status_code

    await asyncio.wait_for(asyncio.gather(*(phone() for _ in range(CLIENTS))), 300)
    return latencies


CONFIRMS = 300  # sales confirmed over the operator plane, and as many in-process


async def confirms(
    operator_url: str, token: str, pin: str, twin: Path
) -> tuple[list[float], list[float]]:
    """CONFIRMS cash sales confirmed as the console does (one kept-alive, pinned TLS connection),
    each followed by the same confirmation called in-process on `twin` (a copy of the node's
    state, opened by this process's own Node): taken in turns, both see the same disk and load.
    """
    from appliance.api.node import Node
    from appliance.config import load_config
    from tui.client import NodeClient

    client = NodeClient(operator_url, token, pin=pin, timeout_s=30)
    node = Node(load_config(twin / "stallbox.toml"), twin)
    op, svc = [], []
    try:
        await node.start(0, 0, advertise=False)
        await client.identity()  # the handshake and the key proof, as a console starts
        for _ in range(CONFIRMS):
            order = await client.create_order({"coffee": 1})
            await client.tender(order.id, "cash")
            t0 = time.perf_counter()
            assert (await client.confirm(order.id)).accepted
            op.append(time.perf_counter() - t0)
            local = await node.checkout.create_order("", [("coffee", 1)])
            await node.checkout.choose_tender(local.id, "cash")
            t0 = time.perf_counter()
            assert (await node.checkout.confirm(local.id)).receipt is not None
            svc.append(time.perf_counter() - t0)
    finally:
        await client.close()
        await node.close()
    return sorted(op), sorted(svc)


def main() -> None:
    """Run the benchmark and print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    port = free_port()
    os.sched_setaffinity(0, CLIENT_CPUS)  # this process and wrk, its child
    hello = subprocess.Popen([sys.executable, str(REPO / "bench" / "hello.py"), str(port)], env=env,
                             preexec_fn=on_server_cpus)  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        floor = rps(f"http://127.0.0.1:{port}/", args.seconds)
        floor_p50, floor_p99 = (
            wrk_latency(f"http://127.0.0.1:{port}/", args.seconds, CLIENTS)
            if shutil.which("wrk")
            else (0.0, 0.0)
        )
    finally:
        hello.terminate()
        hello.wait()

    with tempfile.TemporaryDirectory(prefix="stallbox-bench-") as tmp:
        state = Path(tmp) / "state"
        subprocess.run([sys.executable, "-m", "appliance.cli", "init", "--state", str(state)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        twin = Path(tmp) / "twin"  # the same box, for the in-process confirms
        shutil.copytree(state, twin)
        port, op_port = free_port(), free_port()
        node = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "node", "--state", str(state), "--host", "127.0.0.1",
             "--port", str(port), "--operator-port", str(op_port), "--no-mdns"], env=env,
            stdout=subprocess.DEVNULL, preexec_fn=on_server_cpus,
        )  # fmt: skip
        try:
            url, op_url = f"http://127.0.0.1:{port}", f"https://127.0.0.1:{op_port}"
            wait_http(url + "/healthz")
            menu = rps(url + "/", args.seconds)
            code = subprocess.run([sys.executable, "-m", "appliance.cli", "pair", "--state", str(state)], env=env,
                                  check=True, capture_output=True, text=True).stdout.split()[2]  # fmt: skip
            from tui.pairing import pair_blocking

            pin = fingerprint(load_key(state).public)
            operator = httpx.Client(base_url=op_url, verify=state_dir_context(state), timeout=30)
            with operator:
                token = pair_blocking(operator, code, "bench", pin).token
            rounds = [claim_round(op_url, url, state, token) for _ in range(ROUNDS)]
            p50, p99, claim_rate = (statistics.median(r[i] for r in rounds) for i in range(3))
            rss = peak_rss_mb(node.pid)
            op, svc = asyncio.run(confirms(op_url, token, pin, twin))
        finally:
            node.terminate()
            node.wait(10)
    op_p50, svc_p50 = statistics.median(op) * 1e3, statistics.median(svc) * 1e3

    print(
        f"floor (hello world) {floor:.0f} req/s; menu {menu:.0f} req/s ({menu / floor:.2f}x floor, goal >= 0.5)"
    )
    print(
        f"drop claims at {CLIENTS} clients, median of {ROUNDS} rounds: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        f" (goal p99 <= 50 ms; rounds' p99: {', '.join(f'{r[1]:.1f}' for r in rounds)})"
    )
    print(
        f"floor latency at {CLIENTS} connections (hello world): p50 {floor_p50:.1f} ms, p99 {floor_p99:.1f} ms"
    )
    print(f"node peak RSS {rss:.1f} MB (goal <= 120 MB)")
    print(
        f"confirm p50 over the operator plane (pinned TLS 1.3, kept alive) {op_p50:.2f} ms, in-process"
        f" {svc_p50:.2f} ms: the plane adds {op_p50 - svc_p50:.2f} ms (goal <= 1.0 ms; {CONFIRMS} each)"
    )
    print(f"servers on CPU {sorted(SERVER_CPUS)}, load generator on CPU {sorted(CLIENT_CPUS)}")
    print(json.dumps({
        "bench": "node", "floor_rps": round(floor, 1), "menu_rps": round(menu, 1),
        "claim_p50_ms": round(p50, 2), "claim_p99_ms": round(p99, 2), "claims_per_s": round(claim_rate, 1),
        "claim_p99_ms_rounds": [round(r[1], 2) for r in rounds],
        "floor_p50_ms_200": round(floor_p50, 2), "floor_p99_ms_200": round(floor_p99, 2),
        "peak_rss_mb": round(rss, 1),
        "op_confirm_p50_ms": round(op_p50, 3), "svc_confirm_p50_ms": round(svc_p50, 3),
        "op_confirm_p99_ms": round(op[int(len(op) * 0.99)] * 1e3, 3),
        "svc_confirm_p99_ms": round(svc[int(len(svc) * 0.99)] * 1e3, 3),
        "menu_vs_floor": round(menu / floor, 3), "server_cpus": sorted(SERVER_CPUS),
        "client_cpus": sorted(CLIENT_CPUS),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
