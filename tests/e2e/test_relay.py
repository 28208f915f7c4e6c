"""Issue #7's relay acceptance: three boxes at a market, one uplink, every chain in the cloud.

Real processes in network namespaces this test creates (root only; skipped without root unless
CI=true, where it fails instead):

    ns -cl:  stallbox cloud on 10.213.1.2 (and 10.213.2.2, the test's own way in)
               │ veth, a's WAN
    ns -a:   node + sync of "Box A", LAN 10.213.0.1, WAN 10.213.1.1: the only uplink
    ns -b:   node + sync of "Box B", LAN 10.213.0.2: no route to the cloud
    ns -c:   node + sync of "Box C", LAN 10.213.0.3: no route to the cloud
    ns -sw:  the market's switch, a bridge joining the three LAN veths

Discovery is real mDNS with `interfaces = "all"` inside each namespace (which only sees its own
interfaces: checked below), so multicast stays on the bridge. B and C find A's uplink=yes in its
TXT, hand it their signed batches, and verify the proofs that come back through A; their
acked_seq advances with via "peer Box A". A relay that alters a receipt (here: A's own token,
an altered batch of B's, posted to the cloud's relay endpoint) gets a 409 and B's quarantine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from netns import Namespaces, in_ns, require_netns, run_ip, spawn_in, stop_all, wait_for
from nodeproc import run_cli
from syncproc import Proc, cloud_head, enrol, make_sales
from testca import make_ca

from appliance.ledger.receipt import GENESIS_PREV, b64
from appliance.ledger.wire import VERSION, Batch, DeviceReport, WireReceipt, encode
from appliance.services.cloud_account import load_account, save_account
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync

CLOUD_PORT = 8470
NODE_PORT = 8080
CLOUD_LAN = "10.213.1.2"  # where box A reaches the cloud
CLOUD_TEST = "10.213.2.2"  # where this test reaches it
SALES = {"a": 300, "b": 1200, "c": 700}


class Market(Namespaces):
    """The namespaces and links of one test run; `close` removes them all."""

    def build(self) -> None:
        sw = self.switch()
        for i, box in enumerate("abc", start=1):
            ns = self.add_ns(box)
            self.plug(ns, sw, (f"e{box}{self.tag}", f"s{box}{self.tag}"), f"10.213.0.{i}/24")
        cl, a = self.add_ns("cl"), self.ns("a")
        self.veth((f"wa{self.tag}", a), (f"wc{self.tag}", cl))
        run_ip("-n", a, "addr", "add", "10.213.1.1/24", "dev", f"wa{self.tag}")
        run_ip("-n", a, "link", "set", f"wa{self.tag}", "up")
        run_ip("-n", cl, "addr", "add", f"{CLOUD_LAN}/24", "dev", f"wc{self.tag}")
        run_ip("-n", cl, "link", "set", f"wc{self.tag}", "up")
        self.veth((f"t{self.tag}", None), (f"tc{self.tag}", cl))
        run_ip("addr", "add", "10.213.2.1/24", "dev", f"t{self.tag}")
        run_ip("link", "set", f"t{self.tag}", "up")
        run_ip("-n", cl, "addr", "add", f"{CLOUD_TEST}/24", "dev", f"tc{self.tag}")
        run_ip("-n", cl, "link", "set", f"tc{self.tag}", "up")


def sync_state(state: Path) -> syncstate.SyncState:
    conn = open_sync(state / DB_NAME, readonly=True)
    try:
        return syncstate.read_state(conn)
    finally:
        conn.close()


def name_box(state: Path, name: str) -> None:
    config = state / "stallbox.toml"
    text = config.read_text()
    assert 'name = "My Stall"' in text and 'interfaces = "all"' in text
    config.write_text(text.replace('name = "My Stall"', f'name = "{name}"'))


@pytest.fixture
def market() -> Iterator[Market]:
    require_netns("the relay test")
    built = Market("sbx", f"{os.getpid() % 100000:05d}")
    try:
        built.build()
        yield built
    finally:
        built.close()


def tampered_batch(state: Path, last: int, bad: int) -> bytes:
    """Box `state`'s receipts 0..last as its daemon would send them, with receipt `bad` altered."""
    conn = open_sync(state / DB_NAME, readonly=True)
    try:
        pending = syncstate.pending(conn, -1, last + 1, 1 << 20)
    finally:
        conn.close()
    wire = [WireReceipt(p.seq, p.line, p.items) for p in pending]
    line = wire[bad].line
    fields = line.split(";")
    fields[8] = str(int(fields[8]) + 100)  # the total: the relay "rounds up" a sale
    wire[bad] = WireReceipt(bad, ";".join(fields), wire[bad].items)
    assert wire[bad].line != line
    return encode(Batch(VERSION, 0, b64(GENESIS_PREV), wire, 0))


@pytest.mark.slow  # not serial: its multicast stays in its own namespaces, and its deadlines
@pytest.mark.timeout(300)  # (150 s for ~40 s of work) hold beside the parallel phase's tests
def test_three_boxes_one_uplink_every_chain_arrives(market: Market, tmp_path: Path) -> None:
    states = {box: tmp_path / box for box in "abc"}
    heads = {}
    for box, state in states.items():
        heads[box] = make_sales(state, SALES[box])
        name_box(state, f"Box {box.upper()}")
    cloud_state = tmp_path / "cloud"
    procs: list[Proc] = []
    try:
        ca = make_ca(tmp_path / "tls", (CLOUD_LAN, CLOUD_TEST))  # HTTPS: the boxes verify it
        cloud = spawn_in(
            market.ns("cl"), "cloud", "serve", "--state", str(cloud_state), "--host", "0.0.0.0",
            "--port", str(CLOUD_PORT), *ca.serve_args(),
        )  # fmt: skip
        procs.append(cloud)
        test_url = f"https://{CLOUD_TEST}:{CLOUD_PORT}"
        wait_for("the cloud listens", lambda: "listening" in cloud.text(), 20, procs)
        for state in states.values():
            enrol(state, cloud_state, test_url, ca_file=ca.ca_file)
            account = load_account(state)
            save_account(
                state, msgspec.structs.replace(account, url=f"https://{CLOUD_LAN}:{CLOUD_PORT}")
            )
        accounts = {box: load_account(state) for box, state in states.items()}

        # A relay that alters a receipt: A's token, B's batch with receipt 5's total changed.
        answer = httpx.post(
            f"{test_url}/v1/relay/devices/{accounts['b'].device}/receipts",
            content=tampered_batch(states["b"], 9, 5),
            headers={"Authorization": f"Bearer {accounts['a'].api_token}"}, timeout=10,
            verify=ca.context(),
        )  # fmt: skip
        assert answer.status_code == 409, answer.text
        assert answer.json()["seq"] == 5 and answer.json()["head"]["seq"] == 4
        admin = (cloud_state / "admin.token").read_text().strip()
        reports = msgspec.json.decode(
            httpx.get(
                f"{test_url}/api/devices",
                headers={"Authorization": f"Bearer {admin}"},
                timeout=10,
                verify=ca.context(),
            ).content,
            type=list[DeviceReport],
        )
        report = next(r for r in reports if r.device == accounts["b"].device)
        assert report.head.quarantined == 1 and report.last_problem is not None
        assert f"relayed by {accounts['a'].device}" in report.last_problem
        listed = run_cli("cloud", "devices", "--state", str(cloud_state))
        assert listed.returncode == 0 and "relayed by" in listed.stdout, listed.stdout

        # Inside a box's namespace, "all" interfaces are only its own: lo and its LAN veth.
        seen = in_ns(
            market.ns("b"),
            "import ifaddr; print(sorted(a.nice_name for a in ifaddr.get_adapters()))",
        )
        assert seen.strip() == str(sorted(["lo", f"eb{market.tag}"])), seen

        syncs: dict[str, Proc] = {}
        for box, state in states.items():
            ns = market.ns(box)
            node_args = ["--state", str(state), "--host", "0.0.0.0", "--port", str(NODE_PORT)]
            procs.append(spawn_in(ns, "node", *node_args, "--interfaces", "all"))
            syncs[box] = spawn_in(ns, "sync", "--state", str(state))
            procs.append(syncs[box])

        def arrived() -> bool:
            return all(sync_state(states[b]).acked_seq == heads[b] for b in "abc")

        wait_for("every box's chain is acknowledged", arrived, 150, procs)

        # B sees A's uplink=yes over mDNS on the bridge (and never itself needed an uplink).
        found = in_ns(
            market.ns("b"),
            "import asyncio; from appliance.discovery import browse\n"
            "for n in asyncio.run(browse('all', 3.0)): print(n.name, n.uplink, *n.urls)",
        )
        assert any(line.startswith("Box A True") for line in found.splitlines()), found

        for box, state in states.items():
            head = cloud_head(state, test_url)
            assert head.seq == heads[box], (box, head)
            current = sync_state(state)
            assert current.stopped is None, (box, current.stopped)
            assert current.via == ("cloud" if box == "a" else "peer Box A"), (box, current.via)
        # B's and C's chains came only through A: their daemons could not reach the cloud.
        for box in "bc":
            sync_text = syncs[box].text()
            assert "relaying through peer Box A" in sync_text, sync_text[-2000:]
        assert run_cli("ledger", "verify", "--state", str(states["b"])).returncode == 0
        checkpoint = httpx.get(f"{test_url}/v1/checkpoint", timeout=10, verify=ca.context()).text
        size = int(checkpoint.split("\n")[1])
        assert size == sum(h + 1 for h in heads.values())  # each receipt once in the log
    finally:
        stop_all(procs)
