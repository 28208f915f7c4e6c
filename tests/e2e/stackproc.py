"""The whole box as real processes, and issue #7's full-stack fault run on top of it.

The cloud runs in a network namespace of its own (tests/e2e/netns.py), so cutting the box-cloud
link is a real link change the sync daemon hears over netlink. The node and `stallbox sync` run on the host; simulated phones order
through the attendee pages and the operator confirms over the API (appliance.demo_stack's own
functions), and every sale a phone saw as done is recorded with its seq and receipt line.

`run_faults` is shared by tests/e2e/test_full_stack_faults.py and bench/faults.py.
"""

from __future__ import annotations

import contextlib
import random
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from netns import Netns, start_cloud_in
from nodeproc import NodeProcess, run_cli, start_node
from syncproc import Proc, cloud_head, enrol, free_port, spawn

from appliance.config import CONFIG_NAME
from appliance.demo_stack import attendee_sale, phone_client, prepare
from appliance.errors import StallboxError
from appliance.services.cloud_account import cloud_tls, load_account
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME, open_sync
from appliance.tls import state_dir_context
from sync.checkpoint import parse_verifier_key, verify_checkpoint


@dataclass(frozen=True, slots=True)
class Sale:
    """A sale a phone saw as done: the confirm answered 200 with this receipt."""

    seq: int
    line: str


@dataclass
class Attendees:
    """A few phone loops ordering from the menu while the operator confirms each order."""

    url: str  # attendee plane
    operator_url: str  # operator plane (TLS, pinned to the box's certificate)
    box: Path
    token: str
    phones: int
    seed: int
    max_attempts: int = 5000  # per phone
    seen: list[Sale] = field(default_factory=list)
    attempts: int = 0
    in_flight_failures: int = 0
    refusals: list[str] = field(default_factory=list)  # the node answered, but not with a sale
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start the phone loops."""
        for i in range(self.phones):
            thread = threading.Thread(target=self._loop, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def count(self) -> int:
        """How many sales the phones saw as done so far."""
        with self._lock:
            return len(self.seen)

    def wait_for_more(self, than: int, deadline_s: float) -> bool:
        """Wait until more than `than` sales were seen; False at the deadline."""
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.count() > than:
                return True
            self._stop.wait(0.05)
        return False

    def stop(self, deadline_s: float = 20.0) -> None:
        """Stop the loops and wait for them (each request has a 5 s timeout)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(deadline_s)
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"phone loops still running: {alive}"

    def _record(self, response: httpx.Response) -> None:
        if response.status_code != 200 or not response.request.url.path.endswith("/confirm"):
            return
        response.read()
        receipt = response.json().get("receipt")
        if receipt is not None:
            with self._lock:
                self.seen.append(Sale(int(receipt["seq"]), str(receipt["line"])))

    def _loop(self, index: int) -> None:
        rng = random.Random(self.seed * 100 + index)
        auth = {"Authorization": f"Bearer {self.token}"}
        tls = ssl.create_default_context()  # one for every phone client (plain HTTP)
        with httpx.Client(
            base_url=self.operator_url, timeout=5, headers=auth,
            event_hooks={"response": [self._record]}, verify=state_dir_context(self.box),
        ) as api:  # fmt: skip
            for attempt in range(self.max_attempts):
                if self._stop.is_set():
                    return
                with self._lock:
                    self.attempts += 1
                try:  # each sale by another phone, from its own address (the node limits per address)
                    with phone_client(self.url, index * self.max_attempts + attempt, tls) as phone:
                        attendee_sale(phone, api, rng)
                except (StallboxError, httpx.HTTPError, ValueError, KeyError) as exc:
                    with self._lock:  # a transport error: the node was down or died mid-sale
                        if isinstance(exc, httpx.TransportError):
                            self.in_flight_failures += 1
                        else:
                            self.refusals.append(f"{type(exc).__name__}: {str(exc)[:300]}")
                    self._stop.wait(0.1)
                    continue
                self._stop.wait(rng.uniform(0.01, 0.08))


SUMMARY_KEYS = (
    "sales_seen", "node_kills", "cloud_outages", "link_cuts", "receipts", "cloud_head",
    "device_seq", "acked_seq", "log_size", "duplicates", "missing", "changed",
    "in_flight_failures", "refusals", "daemon_retries", "link_wakeups", "converge_s", "seconds",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to break and how often; the order of the faults is shuffled with `seed`."""

    node_kills: int = 4
    cloud_outages: int = 2  # the first by SIGTERM, the others by SIGKILL
    link_cuts: int = 2
    phones: int = 3
    seed: int = 7
    fault_s: tuple[float, float] = (2.0, 4.0)  # how long the cloud or the link stays away
    sales_between_s: tuple[float, float] = (0.8, 2.0)
    converge_s: float = 120.0


@dataclass
class FaultReport:
    """What a fault run saw; `problems` is empty when every promise held."""

    node_kills: int = 0
    cloud_outages: int = 0
    link_cuts: int = 0
    attempts: int = 0
    sales_seen: int = 0
    in_flight_failures: int = 0
    refusals: list[str] = field(default_factory=list)
    outbox_during_faults: list[int] = field(default_factory=list)
    receipts: int = 0
    device_seq: int = -1
    cloud_head: int = -1
    acked_seq: int = -1
    log_size: int = -1
    duplicates: int = 0
    missing: int = 0
    changed: int = 0
    verify_rc: int = -1
    daemon_retries: int = 0  # "retrying in" lines the daemon logged
    link_wakeups: int = 0  # "link changed: retrying now": netlink cut a backoff short
    converge_s: float = -1.0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    daemon_output: str = ""

    def summary(self) -> dict[str, Any]:
        """The bench's JSON line."""
        counts = {key: getattr(self, key) for key in SUMMARY_KEYS}
        return {"bench": "faults", **counts, "refusals": len(self.refusals)}


@contextlib.contextmanager
def _stack(work: Path, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Netns + cloud + enrolled box + node + sync daemon; everything stopped and undone after."""
    ns = Netns(rng)
    parts: dict[str, Any] = {"ns": ns}
    try:
        ns.create()
        cloud_state, stall = work / "cloud", work / "stall"
        prepare(stall, lan=False)
        box = stall / "box"
        config = box / CONFIG_NAME  # unlimited pastel: refusals would only be sold-out noise
        config.write_text(config.read_text(encoding="utf-8").replace("stock = 40\n", ""))
        parts["cloud"] = start_cloud_in(ns, cloud_state)
        enrol(box, cloud_state, parts["cloud"].url, ca_file=work / "tls" / "ca.pem")
        assert load_account(box).url.startswith(f"https://{ns.cloud_ip}:")
        parts["port"], parts["op_port"] = free_port(), free_port()
        parts["node"] = start_node(
            box, "--port", str(parts["port"]), "--operator-port", str(parts["op_port"])
        )
        parts["token"] = parts["node"].pair()
        parts["daemon"] = spawn("sync", "--state", str(box))
        parts.update(box=box, cloud_state=cloud_state)
        yield parts
    finally:
        for name in ("daemon", "node", "cloud"):
            proc = parts.get(name)
            if proc is not None and proc.process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.stop(10)
                if proc.process.poll() is None:
                    proc.process.kill()
                    proc.process.wait(10)
        leftovers = ns.close()
        if leftovers:
            print("netns cleanup problems:", *leftovers, sep="\n  ", file=sys.stderr)


def _sync_status(node: NodeProcess, token: str) -> dict[str, Any]:
    with node.client(token) as client:
        answer = client.get("/api/sync")
    answer.raise_for_status()
    return dict(answer.json())


def _hold(seconds: float, node: NodeProcess, token: str) -> int:
    """Let a fault last `seconds` while sales go on; return the largest outbox seen meanwhile."""
    deadline, largest = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        largest = max(largest, int(_sync_status(node, token)["outbox_depth"]))
        time.sleep(0.25)
    return largest


def run_faults(work: Path, plan: FaultPlan, say: Callable[[str], None] = print) -> FaultReport:
    """Sales under node kills, cloud outages and link cuts; then converge and check everything."""
    started = time.monotonic()
    rng = random.Random(plan.seed)
    report = FaultReport()
    faults = ["node"] * plan.node_kills + ["cloud"] * plan.cloud_outages + ["link"] * plan.link_cuts
    rng.shuffle(faults)
    with _stack(work, rng) as parts:
        box, ns, token = parts["box"], parts["ns"], parts["token"]
        say(f"cloud {parts['cloud'].url} in netns {ns.name}; node {parts['node'].url}")
        node = parts["node"]
        phones = Attendees(node.url, node.operator_url, box, token, plan.phones, plan.seed)
        phones.start()
        try:
            for kind in faults:
                before = phones.count()
                if not phones.wait_for_more(before, 30):
                    report.problems.append(f"no sale within 30 s before a {kind} fault")
                time.sleep(rng.uniform(*plan.sales_between_s))  # sales go on for a while
                if kind == "node":
                    parts["node"].process.kill()  # SIGKILL during sales
                    parts["node"].process.wait(10)
                    report.node_kills += 1
                    parts["node"] = start_node(
                        box, "--port", str(parts["port"]), "--operator-port", str(parts["op_port"])
                    )
                elif kind == "cloud":
                    cloud: Proc = parts["cloud"]
                    if report.cloud_outages == 0:
                        cloud.stop()
                    else:
                        cloud.kill()
                    report.cloud_outages += 1
                    depth = _hold(rng.uniform(*plan.fault_s), parts["node"], token)
                    report.outbox_during_faults.append(depth)
                    parts["cloud"] = start_cloud_in(ns, parts["cloud_state"])
                else:
                    ns.cut()
                    report.link_cuts += 1
                    depth = _hold(rng.uniform(*plan.fault_s), parts["node"], token)
                    report.outbox_during_faults.append(depth)
                    ns.restore()
                say(f"{kind} fault done; {phones.count()} sales seen so far")
            if not phones.wait_for_more(phones.count(), 30):
                report.problems.append("no sale after the last fault")
        finally:
            phones.stop()
        report.attempts, report.sales_seen = phones.attempts, len(phones.seen)
        report.in_flight_failures, report.refusals = phones.in_flight_failures, phones.refusals
        say(f"{report.sales_seen} sales seen in {report.attempts} attempts; converging")
        _converge(parts, plan, report)
        parts["daemon"].stop()
        report.daemon_output = parts["daemon"].text()
        report.daemon_retries = report.daemon_output.count("retrying in")
        report.link_wakeups = report.daemon_output.count("link changed: retrying now")
        assert parts["node"].stop() == 0
        _check(parts, phones.seen, report)
        assert parts["cloud"].stop() == 0
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _converge(parts: dict[str, Any], plan: FaultPlan, report: FaultReport) -> None:
    """Wait until the daemon's acked_seq, the cloud's head and the device's last seq agree."""
    t0 = time.monotonic()
    deadline = t0 + plan.converge_s
    while True:
        status = _sync_status(parts["node"], parts["token"])
        report.acked_seq = int(status["acked_seq"])
        report.device_seq = report.acked_seq + int(status["outbox_depth"])
        report.cloud_head = cloud_head(parts["box"]).seq
        if report.acked_seq == report.cloud_head == report.device_seq:
            report.converge_s = round(time.monotonic() - t0, 1)
            return
        if status["stopped"] or time.monotonic() > deadline:
            report.problems.append(
                f"no convergence after {time.monotonic() - t0:.0f} s: acked {report.acked_seq}, "
                f"cloud head {report.cloud_head}, device {report.device_seq}; "
                f"stopped={status['stopped']!r} last_error={status['last_error']!r}"
            )
            return
        time.sleep(0.5)


def _check(parts: dict[str, Any], seen: list[Sale], report: FaultReport) -> None:
    """Compare what the phones saw with the ledger, the chain, the cloud's head and its log."""
    box: Path = parts["box"]
    conn = open_sync(box / DB_NAME, readonly=True)
    try:
        lines = {r.seq: r.line for r in ledger_sql.iter_receipts(conn)}
        report.receipts = ledger_sql.receipt_count(conn)
    finally:
        conn.close()
    report.device_seq = max(lines, default=-1)
    if sorted(lines) != list(range(report.receipts)):
        report.problems.append("the ledger's seqs are not 0..N-1")
    seqs = [s.seq for s in seen]
    report.duplicates = len(seqs) - len(set(seqs))  # two sales shown done under one seq
    report.missing = sum(s.seq not in lines for s in seen)
    report.changed = sum(s.seq in lines and lines[s.seq] != s.line for s in seen)
    verified = run_cli("ledger", "verify", "--state", str(box))
    report.verify_rc = verified.returncode
    if verified.returncode != 0:
        report.problems.append(f"ledger verify: {verified.stdout}{verified.stderr}")
    account = load_account(box)
    note = httpx.get(
        f"{parts['cloud'].url}/v1/checkpoint", timeout=10,
        verify=cloud_tls(load_account(parts["box"]).ca_file),
    ).text  # fmt: skip
    checkpoint = verify_checkpoint(
        note, parse_verifier_key(account.verifier_key), origin=account.origin
    )
    report.log_size = checkpoint.size
    report.cloud_head = cloud_head(box).seq
    report.duplicates += max(0, report.log_size - report.receipts)  # a leaf logged twice
    if report.log_size != report.receipts:
        report.problems.append(
            f"cloud log holds {report.log_size} leaves, ledger {report.receipts}"
        )
    if not report.cloud_head == report.device_seq == report.acked_seq:
        report.problems.append(
            f"cloud head {report.cloud_head}, device seq {report.device_seq}, "
            f"acked {report.acked_seq}"
        )
    if report.duplicates or report.missing or report.changed:
        report.problems.append(
            f"duplicates {report.duplicates}, missing {report.missing}, changed {report.changed}"
        )
