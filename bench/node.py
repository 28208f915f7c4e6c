"""Node benchmark: menu req/s against a hello-world floor, drop claims under 200 clients, RSS.

All in one run on loopback, in rounds (default 3): each round measures the floor, a Starlette
hello-world under the same uvicorn settings (uvloop + httptools), and the real node's menu page
with the same load tool (wrk, required: the bench exits 4 naming its Debian package when it is
missing), one after the other, so both see the same machine; then the floor's latency at 200
connections; then drop claims by 200 concurrent clients (each claim from its own source
address, as the node limits claims per address) on a fresh drop. The JSON line holds the
medians of the rounds, and each round is printed. Then the node's peak RSS from /proc, and what
the operator plane adds to a confirmation: the median of 300 confirms over the console's
kept-alive, pinned TLS connection (`op_confirm_p50_ms`) minus the median of 300 of the same
confirms called in-process, in turns with them, on a copy of the box's state
(`svc_confirm_p50_ms`). There is no plain-HTTP operator plane to compare with.

Beside the claims, each round measures the same claims by phones that keep their connection
(a phone that loaded the drop page keeps it for its claim): 200 phones, each on one kept-alive
connection opened before its first claim, claiming KEPT_EACH units one after another on a fresh
drop of that many per attendee (`kept_claims_vs_floor`, `kept_claim_p99_vs_floor_p99`,
`cpu_ms_per_request.kept_claim`). The goals are judged on the claims above, as issue 18 states
them; these say what a claim costs the node apart from its connection.

Each round also reads the servers' CPU time from /proc around each part: CPU per request for
the floor, the menu and a claim (`cpu_ms_per_request`). On a shared machine throughput ratios
swing with what else runs; CPU per request moves far less, and it is what a Pi multiplies by 7.
The JSON line also holds the medians of each round's own ratios (`round_ratio_medians`).

Goals (issue 18, same-run floors, medians of rounds): menu >= 0.8x the floor's req/s; drop
claims/s >= 0.4x the floor's req/s; claim p99 at 200 clients <= 2x the floor's p99 at 200
connections; RSS <= 120 MB; the operator plane adds <= 1.0 ms to a confirm's p50 (issue 11).

On a machine with two or more CPUs the servers run on CPU 0 and the load generator (wrk, or
this process) on the others: at a stall the phones are other devices, and a load generator that
competes for the server's core measures its own scheduling. On this 2-vCPU VM that alone takes
the hello-world floor's p99 at 200 connections from 130-430 ms to ~22 ms.

A part that measured nothing (no claim accepted, wrk answering errors) ends the run with exit
code 3 after saying why (bench/honest.py).

Usage: python bench/node.py [--seconds S] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:1] = [str(REPO)]  # `python bench/node.py` puts bench/ first; the repo goes there

import httpx  # noqa: E402

from appliance.ledger.identity import fingerprint, load_key  # noqa: E402
from appliance.tls import state_dir_context  # noqa: E402
from bench.honest import BenchError, Exit, Unmeasured, fail, print_machine, require  # noqa: E402
from bench.phones import ClaimRound, claim_round, floor_round, kept_round  # noqa: E402
from bench.wrk import WrkRun, wrk  # noqa: E402

BENCH = "bench/node.py"
_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = set(_CPUS[:1]) if len(_CPUS) >= 2 else set(_CPUS)
CLIENT_CPUS = set(_CPUS[1:]) if len(_CPUS) >= 2 else set(_CPUS)
WRK_THREADS = max(1, min(2, len(CLIENT_CPUS)))


def on_server_cpus() -> None:
    """preexec_fn for the servers: keep them off the load generator's CPUs."""
    os.sched_setaffinity(0, SERVER_CPUS)


CLIENTS = 200
CLAIMS = 2000
KEPT_EACH = CLAIMS // CLIENTS  # claims per kept-alive phone, one after another on its connection


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
    raise Unmeasured(f"{url} did not come up in {deadline_s} s")


def load(url: str, seconds: float, connections: int = 64) -> WrkRun:
    """wrk at `connections` connections from the load generator's CPUs."""
    return wrk(url, seconds=seconds, connections=connections, threads=WRK_THREADS, bench=BENCH)


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]


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


@dataclass(frozen=True, slots=True)
class Round:
    """One round: the floor and the menu at 64 connections, the floor at 200, a drop's claims."""

    floor: WrkRun
    menu: WrkRun
    floor_200: WrkRun
    claims: ClaimRound
    phone_floor: ClaimRound  # the same phones against the hello-world's do-nothing claim
    kept: ClaimRound  # claims by phones that keep their connection (KEPT_EACH each)
    cpu_ms: dict[str, float]  # the server's CPU per request: floor, menu, claim, phone floor, kept

    def ratios(self) -> dict[str, float]:
        """This round's ratios to its own floor."""
        return {
            "menu_vs_floor": self.menu.rps / self.floor.rps,
            "claims_vs_floor": self.claims.per_s / self.floor.rps,
            "claim_p99_vs_floor_p99": self.claims.p99_ms / self.floor_200.p99_ms,
            "menu_cpu_vs_floor_cpu": self.cpu_ms["floor"] / self.cpu_ms["menu"],
            "claims_vs_phone_floor": self.claims.per_s / self.phone_floor.per_s,
            "claim_p99_vs_phone_floor_p99": self.claims.p99_ms / self.phone_floor.p99_ms,
            "kept_claims_vs_floor": self.kept.per_s / self.floor.rps,
            "kept_claim_p99_vs_floor_p99": self.kept.p99_ms / self.floor_200.p99_ms,
        }

    def line(self, n: int) -> str:
        """The round, printed as it ends."""
        return (
            f"round {n}: floor {self.floor.rps:.0f} req/s, menu {self.menu.rps:.0f} req/s"
            f" ({self.menu.rps / self.floor.rps:.2f}x); floor at {CLIENTS} conns p50"
            f" {self.floor_200.p50_ms:.1f} ms p99 {self.floor_200.p99_ms:.1f} ms; claims"
            f" {self.claims.per_s:.0f}/s ({self.claims.accepted} accepted) p50"
            f" {self.claims.p50_ms:.1f} ms p99 {self.claims.p99_ms:.1f} ms; server CPU per request:"
            f" floor {self.cpu_ms['floor']:.3f} ms, menu {self.cpu_ms['menu']:.3f} ms, claim"
            f" {self.cpu_ms['claim']:.3f} ms; phone floor {self.phone_floor.per_s:.0f}/s p99"
            f" {self.phone_floor.p99_ms:.1f} ms, CPU {self.cpu_ms['phone_floor']:.3f} ms; kept-alive"
            f" claims {self.kept.per_s:.0f}/s p99 {self.kept.p99_ms:.1f} ms, CPU"
            f" {self.cpu_ms['kept_claim']:.3f} ms"
        )


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A server process on the servers' CPUs."""
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, preexec_fn=on_server_cpus)


def measure(seconds: float, rounds: int, tmp: Path) -> dict[str, object]:
    """Start the floor and the node, run the rounds and the confirms; the JSON line's figures."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "appliance.cli"]
    state = tmp / "state"
    subprocess.run([*cli, "init", "--state", str(state)], env=env, check=True, capture_output=True)
    twin = tmp / "twin"  # the same box, for the in-process confirms
    shutil.copytree(state, twin)
    hello_port, port, op_port = free_port(), free_port(), free_port()
    hello = spawn([sys.executable, str(REPO / "bench" / "hello.py"), str(hello_port)], env)
    node = spawn([*cli, "node", "--state", str(state), "--host", "127.0.0.1", "--port", str(port),
                  "--operator-port", str(op_port), "--no-mdns"], env)  # fmt: skip
    try:
        floor_url, url = f"http://127.0.0.1:{hello_port}/", f"http://127.0.0.1:{port}"
        op_url = f"https://127.0.0.1:{op_port}"
        wait_http(floor_url)
        wait_http(url + "/healthz")
        pair = subprocess.run([*cli, "pair", "--state", str(state)], env=env, check=True,
                              capture_output=True, text=True)  # fmt: skip
        from tui.pairing import pair_blocking

        pin = fingerprint(load_key(state).public)
        operator = httpx.Client(base_url=op_url, verify=state_dir_context(state), timeout=30)
        with operator:
            token = pair_blocking(operator, pair.stdout.split()[2], "bench", pin).token
            operator.headers["Authorization"] = f"Bearer {token}"
            done = []
            for n in range(1, rounds + 1):
                c0 = cpu_s(hello.pid)
                floor_run = load(floor_url, seconds)
                c1 = cpu_s(node.pid)
                menu_run = load(url + "/", seconds)
                c2 = cpu_s(node.pid)
                floor_200 = load(floor_url, seconds, CLIENTS)
                c3 = cpu_s(hello.pid)
                claims = claim_round(operator, url, quantity=100_000, count=CLAIMS, clients=CLIENTS)
                c4 = cpu_s(node.pid)  # the drop's scheduling too: a few ms in 2,000 claims
                c5 = cpu_s(hello.pid)
                phone_floor = floor_round(floor_url, count=CLAIMS, clients=CLIENTS)
                c6 = cpu_s(hello.pid)
                c7 = cpu_s(node.pid)
                kept = kept_round(operator, url, phones=CLIENTS, each=KEPT_EACH, quantity=100_000)
                c8 = cpu_s(node.pid)
                cpu = {"floor": (c3 - c0) * 1e3 / (floor_run.requests + floor_200.requests),
                       "menu": (c2 - c1) * 1e3 / menu_run.requests,
                       "claim": (c4 - c2) * 1e3 / (claims.accepted + claims.refused),
                       "phone_floor": (c6 - c5) * 1e3 / phone_floor.accepted,
                       "kept_claim": (c8 - c7) * 1e3 / (kept.accepted + kept.refused)}  # fmt: skip
                one = Round(floor_run, menu_run, floor_200, claims, phone_floor, kept, cpu)
                print(one.line(n), flush=True)
                done.append(one)
        rss = peak_rss_mb(node.pid)
        op, svc = asyncio.run(confirms(op_url, token, pin, twin))
    finally:
        for proc in (hello, node):
            proc.terminate()
            proc.wait(10)
    med = statistics.median
    floor, menu = med(r.floor.rps for r in done), med(r.menu.rps for r in done)
    claim_rate = med(r.claims.per_s for r in done)
    p99, floor_p99 = med(r.claims.p99_ms for r in done), med(r.floor_200.p99_ms for r in done)
    phone_rate = med(r.phone_floor.per_s for r in done)
    phone_p99 = med(r.phone_floor.p99_ms for r in done)
    kept_rate, kept_p99 = med(r.kept.per_s for r in done), med(r.kept.p99_ms for r in done)
    op_p50, svc_p50 = med(op) * 1e3, med(svc) * 1e3
    ratios = {key: med(r.ratios()[key] for r in done) for key in done[0].ratios()}
    cpu = {key: med(r.cpu_ms[key] for r in done) for key in done[0].cpu_ms}
    print(f"medians of {rounds} rounds: floor {floor:.0f} req/s; menu {menu:.0f} req/s"
          f" ({menu / floor:.2f}x floor, goal >= 0.8); claims {claim_rate:.0f}/s"
          f" ({claim_rate / floor:.2f}x floor, goal >= 0.4); claim p99 {p99:.1f} ms vs the floor's"
          f" p99 at {CLIENTS} connections {floor_p99:.1f} ms ({p99 / floor_p99:.2f}x, goal <= 2)")  # fmt: skip
    print(f"beside them, the same phones against the hello-world's do-nothing claim (one new"
          f" connection per request, as the claims): {phone_rate:.0f}/s p99 {phone_p99:.1f} ms;"
          f" claims {claim_rate / phone_rate:.2f}x its rate, claim p99 {p99 / phone_p99:.2f}x its"
          f" p99")  # fmt: skip
    print(f"and claims by phones that keep their connection ({KEPT_EACH} each, one after another, as"
          f" a phone that loaded the drop page keeps it): {kept_rate:.0f}/s"
          f" ({kept_rate / floor:.2f}x floor) p99 {kept_p99:.1f} ms ({kept_p99 / floor_p99:.2f}x the"
          f" floor's p99 at {CLIENTS}), CPU {cpu['kept_claim']:.3f} ms per claim")  # fmt: skip
    print(f"medians of the rounds' own ratios: menu {ratios['menu_vs_floor']:.2f}x, claims"
          f" {ratios['claims_vs_floor']:.2f}x, claim p99 {ratios['claim_p99_vs_floor_p99']:.2f}x; server"
          f" CPU per request: floor {cpu['floor']:.3f} ms, menu {cpu['menu']:.3f} ms"
          f" ({ratios['menu_cpu_vs_floor_cpu']:.2f}x the floor's requests per CPU second), claim"
          f" {cpu['claim']:.3f} ms")  # fmt: skip
    print(f"node peak RSS {rss:.1f} MB (goal <= 120 MB)")
    print(
        f"confirm p50 over the operator plane (pinned TLS 1.3, kept alive) {op_p50:.2f} ms, in-process"
        f" {svc_p50:.2f} ms: the plane adds {op_p50 - svc_p50:.2f} ms (goal <= 1.0 ms; {CONFIRMS} each)"
    )
    print(f"servers on CPU {sorted(SERVER_CPUS)}, load generator on CPU {sorted(CLIENT_CPUS)}")
    return {
        "floor_rps": round(floor, 1), "menu_rps": round(menu, 1),
        "claim_p50_ms": round(med(r.claims.p50_ms for r in done), 2), "claim_p99_ms": round(p99, 2),
        "claims_per_s": round(claim_rate, 1),
        "floor_p50_ms_200": round(med(r.floor_200.p50_ms for r in done), 2),
        "floor_p99_ms_200": round(floor_p99, 2), "peak_rss_mb": round(rss, 1),
        "op_confirm_p50_ms": round(op_p50, 3), "svc_confirm_p50_ms": round(svc_p50, 3),
        "op_confirm_p99_ms": round(op[int(len(op) * 0.99)] * 1e3, 3),
        "svc_confirm_p99_ms": round(svc[int(len(svc) * 0.99)] * 1e3, 3),
        "op_adds_ms": round(op_p50 - svc_p50, 3),
        "menu_vs_floor": round(menu / floor, 3), "claims_vs_floor": round(claim_rate / floor, 3),
        "claim_p99_vs_floor_p99": round(p99 / floor_p99, 3),
        "phone_floor_per_s": round(phone_rate, 1), "phone_floor_p99_ms": round(phone_p99, 2),
        "claims_vs_phone_floor": round(claim_rate / phone_rate, 3),
        "claim_p99_vs_phone_floor_p99": round(p99 / phone_p99, 3),
        "kept_claims_per_s": round(kept_rate, 1), "kept_claim_p99_ms": round(kept_p99, 2),
        "kept_claims_vs_floor": round(kept_rate / floor, 3),
        "kept_claim_p99_vs_floor_p99": round(kept_p99 / floor_p99, 3),
        "round_ratio_medians": {key: round(value, 3) for key, value in ratios.items()},
        "cpu_ms_per_request": {key: round(value, 4) for key, value in cpu.items()},
        "rounds": [{"floor_rps": round(r.floor.rps, 1), "menu_rps": round(r.menu.rps, 1),
                    "floor_p99_ms_200": round(r.floor_200.p99_ms, 2), "claims_per_s": round(r.claims.per_s, 1),
                    "claim_p99_ms": round(r.claims.p99_ms, 2),
                    "phone_floor_per_s": round(r.phone_floor.per_s, 1),
                    "phone_floor_p99_ms": round(r.phone_floor.p99_ms, 2),
                    "kept_claims_per_s": round(r.kept.per_s, 1), "kept_claim_p99_ms": round(r.kept.p99_ms, 2),
                    "cpu_ms": {k: round(v, 4) for k, v in r.cpu_ms.items()}} for r in done],
        "server_cpus": sorted(SERVER_CPUS), "client_cpus": sorted(CLIENT_CPUS),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line; non-zero when something was not measured."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        require("wrk", "wrk", BENCH)  # first: a missing tool costs no setup
        machine = print_machine(BENCH)
        os.sched_setaffinity(0, CLIENT_CPUS)  # this process and wrk, its child
        with tempfile.TemporaryDirectory(prefix="stallbox-bench-") as tmp:
            figures = measure(args.seconds, args.rounds, Path(tmp))
    except BenchError as exc:
        return fail(exc)
    print(json.dumps({"bench": "node", **figures, "machine": machine}))
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
