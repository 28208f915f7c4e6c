"""Network namespaces for the e2e tests: a cloud behind a veth pair (`Netns`), and the markets of
the multi-box tests (`Namespaces`: boxes on one bridge, the links this process reaches them by).

Netns: 10.200.X.1/30 on the host end, 10.200.X.2 inside; cutting the box-cloud link is
`ip link set VETH down` on the host end — a real link change the sync daemon hears over netlink.
A high-metric `unreachable` route for the /30 keeps packets for the cloud from ever taking the
default route while the link is down, so nothing reaches any address but loopback and the veth.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nodeproc import REPO
from syncproc import Proc, spawn
from testca import make_ca

CLOUD_PORT = 8710  # inside the cloud's own namespace nothing else listens
ROUTE_METRIC = "4000"


def run_ip(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS`; raise with its stderr if it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _subnet_in_use(x: int) -> bool:
    used = run_ip("-4", "-o", "addr").stdout + run_ip("route", "show", "table", "all").stdout
    return f"10.200.{x}." in used


class Netns:
    """A namespace for the cloud and the veth pair to it; `close` undoes all of it, always."""

    def __init__(self, rng: random.Random) -> None:
        tag = secrets.token_hex(3)
        self.name, self.host_if, self.ns_if = f"sbc-{tag}", f"sbh-{tag}", f"sbn-{tag}"
        candidates = rng.sample(range(1, 255), 40)
        x = next((c for c in candidates if not _subnet_in_use(c)), None)
        if x is None:
            raise RuntimeError("no free 10.200.X.0/30 subnet among 40 tries")
        self.subnet, self.host_ip, self.cloud_ip = (
            f"10.200.{x}.0/30",
            f"10.200.{x}.1",
            f"10.200.{x}.2",
        )
        self._undo: list[tuple[str, ...]] = []

    def create(self) -> None:
        """Make the namespace, the veth pair and the addresses; the link starts up."""
        run_ip("netns", "add", self.name)
        self._undo.append(("netns", "del", self.name))
        run_ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        self._undo.append(("link", "del", self.host_if))
        run_ip("route", "add", "unreachable", self.subnet, "metric", ROUTE_METRIC)
        self._undo.append(("route", "del", "unreachable", self.subnet, "metric", ROUTE_METRIC))
        run_ip("link", "set", self.ns_if, "netns", self.name)
        run_ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        run_ip("-n", self.name, "addr", "add", f"{self.cloud_ip}/30", "dev", self.ns_if)
        run_ip("-n", self.name, "link", "set", "lo", "up")
        run_ip("-n", self.name, "link", "set", self.ns_if, "up")
        self.restore()

    def cut(self) -> None:
        """Take the host end down: the cloud becomes unreachable (no route), like a lost uplink."""
        run_ip("link", "set", self.host_if, "down")

    def restore(self, deadline_s: float = 10.0) -> None:
        """Bring the host end up and wait until the route to the cloud goes through it again."""
        run_ip("link", "set", self.host_if, "up")
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            route = subprocess.run(
                ["ip", "route", "get", self.cloud_ip], capture_output=True, text=True, check=False
            )
            if f"dev {self.host_if}" in route.stdout:
                return
            time.sleep(0.05)
        raise RuntimeError(f"no route to {self.cloud_ip} via {self.host_if} after link up")

    def exec_prefix(self) -> list[str]:
        """The command prefix that runs a program inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def close(self) -> list[str]:
        """Kill what still runs inside (only our cloud can), undo every step; return problems."""
        problems: list[str] = []
        pids = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for step in reversed(self._undo):
            done = subprocess.run(["ip", *step], capture_output=True, text=True, check=False)
            if done.returncode != 0 and "Cannot find device" not in done.stderr:
                problems.append(f"ip {' '.join(step)}: {done.stderr.strip()}")
        self._undo.clear()
        return problems


def start_cloud_in(ns: Netns, state: Path, deadline_s: float = 30.0) -> Proc:
    """Run `stallbox cloud serve` over HTTPS inside `ns` on the namespace's address (a test CA in
    `state`/../tls for that address: the daemon refuses plain HTTP off loopback); wait for it."""
    ca = make_ca(state.parent / "tls", (ns.cloud_ip,))
    return spawn(
        "cloud", "serve", "--state", str(state), "--host", ns.cloud_ip, "--port", str(CLOUD_PORT),
        *ca.serve_args(), ready="listening", deadline_s=deadline_s, prefix=ns.exec_prefix(),
    )  # fmt: skip


@dataclass
class Namespaces:
    """The namespaces and host-side links of one multi-box run; `close` removes them all."""

    prefix: str  # every namespace is PREFIX TAG-NAME: the test's own prefix...
    tag: str  # ...and this run's tag, also in the test's interface names (short: 15 bytes at most)
    namespaces: list[str] = field(default_factory=list)
    root_links: list[str] = field(default_factory=list)

    def ns(self, name: str) -> str:
        """The full name of namespace `name`."""
        return f"{self.prefix}{self.tag}-{name}"

    def add_ns(self, name: str) -> str:
        """Create namespace `name` with its loopback up; return its full name."""
        ns = self.ns(name)
        run_ip("netns", "add", ns)
        self.namespaces.append(ns)
        run_ip("-n", ns, "link", "set", "lo", "up")
        return ns

    def veth(self, a: tuple[str, str | None], b: tuple[str, str | None]) -> None:
        """A veth pair: (name, namespace or None for ours) at each end."""
        cmd = ["link", "add", a[0]]
        if a[1]:
            cmd += ["netns", a[1]]
        cmd += ["type", "veth", "peer", "name", b[0]]
        if b[1]:
            cmd += ["netns", b[1]]
        run_ip(*cmd)
        if a[1] is None:
            self.root_links.append(a[0])

    def switch(self, name: str = "sw") -> str:
        """A namespace holding bridge br0, up: the market's switch; return its full name."""
        sw = self.add_ns(name)
        run_ip("-n", sw, "link", "add", "br0", "type", "bridge")
        run_ip("-n", sw, "link", "set", "br0", "up")
        return sw

    def plug(self, ns: str, sw: str, ends: tuple[str, str], address: str) -> None:
        """Join `ns` to the switch `sw`: veth ends (inside ns, bridge port), `address` inside."""
        inner, port = ends
        self.veth((inner, ns), (port, sw))
        run_ip("-n", sw, "link", "set", port, "master", "br0", "up")
        run_ip("-n", ns, "addr", "add", address, "dev", inner)
        run_ip("-n", ns, "link", "set", inner, "up")

    def close(self) -> None:
        """Delete our host-side links, then every namespace (which takes its links along)."""
        for link in self.root_links:
            subprocess.run(
                ["ip", "link", "del", link], capture_output=True, check=False, timeout=30
            )
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False, timeout=30)


def require_netns(what: str) -> None:
    """Skip unless root with iproute2; under CI=true fail instead (CI must run `what`)."""
    if os.geteuid() == 0 and shutil.which("ip") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} needs root and iproute2 (ip netns) under CI")
    pytest.skip("needs root and iproute2 to build network namespaces")


def spawn_in(ns: str, *args: str) -> Proc:
    """Start `stallbox ARGS` inside namespace `ns` (`ip netns exec` execs it: same pid)."""
    return spawn(*args, prefix=("ip", "netns", "exec", ns))


def in_ns(ns: str, code: str) -> str:
    """Run Python `code` inside `ns`; return what it printed."""
    done = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True, text=True,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_for(what: str, condition: Callable[[], bool], seconds: float, procs: list[Proc]) -> None:
    """Poll `condition` until true; past `seconds`, fail with the tail of each process's output."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.process.args!r}\n{p.text()[-2500:]}" for p in procs)
    raise AssertionError(f"{what}: not within {seconds} s\n{logs}")


def stop_all(procs: list[Proc]) -> None:
    """SIGTERM every process still running (last started first), then reap; kill the slow."""
    for proc in reversed(procs):
        if proc.process.poll() is None:
            proc.process.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.process.wait(10)
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait(5)
