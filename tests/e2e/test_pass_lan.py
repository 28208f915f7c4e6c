"""Issue 19's LAN acceptance: three boxes of one creator, 1,000 redemption attempts of 100 passes.

Real processes in network namespaces this test creates (root only; skipped without root unless
CI=true, where it fails instead):

    ns -sw:  the market's switch, a bridge joining the LAN veths (real multicast: mDNS)
    ns -a, -b, -c:  node + sync of one box each, LAN 10.214.0.{1,2,3}; and a test link
                    10.215.{1,2,3}.0/24 to this process (the "phones"), never cut
    ns -cl:  stallbox cloud on the LAN (10.214.0.10) and on its test link (10.215.9.2)

Each box holds the creator's delegation to its own key; `[passes] boxes = 3`, split "ceil", so
the worst case is 2 extra redemptions per pass. Phones (this process, from 40 addresses per
box: the node limits each address) order a coffee with a pass at a random box, each pass
always by one phone loop at a time (a fan at one stall, then another):

1. LAN up, 40 % of the attempts: no pass is redeemed beyond its allowance, summed over boxes.
2. LAN cut (every box's LAN link down, the test links up), the other 60 %: each pass's total
   stays <= allowance + 2.
3. LAN back: every over-redemption (pass used beyond its allowance, summed over the three
   databases) is listed by every box (GET /api/passes/peers) and by the cloud
   (GET /api/passes/over-redemptions, admin token), where the sync daemons sent it.

STALLBOX_PASS_ATTEMPTS sets the attempts (default 1,000, the issue's figure).
"""

from __future__ import annotations

import os
import random
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from netns import Namespaces, require_netns, run_ip, spawn_in, stop_all, wait_for
from nodeproc import NodeProcess
from syncproc import Proc, enrol
from testca import make_ca

from appliance.config import sample_config
from appliance.ledger.identity import load_key
from appliance.passes.cose import raw_public
from appliance.passes.model import Entitlement, Kind, Pass, Period
from appliance.passes.trust import delegate, issue_pass
from appliance.services.box import init_state
from appliance.services.cloud_account import load_account, save_account
from appliance.store.connection import DB_NAME

ATTEMPTS = int(os.environ.get("STALLBOX_PASS_ATTEMPTS", "1000"))
PASSES = 100
ALLOWANCE = 3
BOXES = "abc"
BOUND = len(BOXES) - 1  # ceil split: worst_over_redemption(3) == 2
NODE_PORT, OPERATOR_PORT, CLOUD_PORT = 8080, 8443, 8470
CLOUD_LAN, CLOUD_TEST = "10.214.0.10", "10.215.9.2"
PHONES_PER_BOX = 60  # orders take turns over them: a phone holds at most MAX_UNPAID unpaid orders
ANA = Ed25519PrivateKey.generate()


class Lan(Namespaces):
    """The namespaces and links of one run; `close` removes them all."""

    def lan_if(self, name: str) -> str:
        return f"l{name}{self.tag}"

    def _test_link(self, ns: str, name: str, subnet: int, addresses: int) -> None:
        host, inner = f"t{name}{self.tag}", f"u{name}{self.tag}"
        self.veth((host, None), (inner, ns))
        for i in range(addresses):
            run_ip("addr", "add", f"10.215.{subnet}.{10 + i}/24", "dev", host)
        run_ip("link", "set", host, "up")
        run_ip("-n", ns, "addr", "add", f"10.215.{subnet}.2/24", "dev", inner)
        run_ip("-n", ns, "link", "set", inner, "up")

    def build(self) -> None:
        sw = self.switch()
        members = [(box, i, f"10.214.0.{i}") for i, box in enumerate(BOXES, start=1)]
        for name, subnet, address in [*members, ("cl", 9, CLOUD_LAN)]:
            ns = self.add_ns(name)
            self.plug(ns, sw, (self.lan_if(name), f"s{name}{self.tag}"), f"{address}/24")
            self._test_link(ns, name, subnet, PHONES_PER_BOX if name != "cl" else 1)

    def set_lan(self, up: bool) -> None:
        """Every box's LAN link down (cut) or up; the test links and the cloud's stay."""
        for box in BOXES:
            run_ip("-n", self.ns(box), "link", "set", self.lan_if(box), "up" if up else "down")


@pytest.fixture
def lan() -> Iterator[Lan]:
    require_netns("the pass LAN test")
    built = Lan("sbp", f"{os.getpid() % 10000:04d}")
    try:
        built.build()
        yield built
    finally:
        built.close()


def make_box(state: Path, name: str) -> None:
    init_state(state, "BRL", datetime.now(UTC))
    (state / "passes").mkdir()
    now = int(time.time())
    deleg = delegate(ANA, "creator:ana", load_key(state).public, name, (now - 3600, now + 86400))
    (state / "passes" / "box.delegation").write_bytes(deleg)
    config = sample_config("BRL").replace('name = "My Stall"', f'name = "{name}"')
    (state / "stallbox.toml").write_text(
        config + "\n[passes]\n"
        f'creators = {{ "creator:ana" = "{raw_public(ANA.public_key()).hex()}" }}\n'
        f'delegation = "passes/box.delegation"\nevent = "fair"\nboxes = {len(BOXES)}\n'
        'split = "ceil"\nsight_s = 2.0\n'
    )  # fmt: skip


def make_passes() -> list[tuple[str, str]]:
    now = int(time.time())
    made = []
    for i in range(PASSES):
        card = Pass(
            pass_id=secrets.token_hex(16), issuer="creator:ana", holder=f"Fan {i}",
            valid_from=now - 3600, valid_until=now + 86400, issued_at=now - 3600,
            entitlements=(Entitlement(Kind.ALLOWANCE, ALLOWANCE, ("coffee",), period=Period.EVENT),),
            signed_by="",
        )  # fmt: skip
        made.append((card.pass_id, issue_pass(ANA, card)))
    return made


def used_per_pass(states: dict[str, Path]) -> Counter[str]:
    """Units each pass redeemed, summed over the boxes' own standing orders (their databases)."""
    total: Counter[str] = Counter()
    for state in states.values():
        conn = sqlite3.connect(f"file:{state / DB_NAME}?mode=ro", uri=True)
        try:
            for pass_id, units in conn.execute(
                "SELECT d.pass_id, sum(d.redeemed) FROM order_discounts AS d JOIN orders AS o"
                " ON o.id = d.order_id WHERE o.state IN ('open', 'awaiting_payment', 'paid')"
                " GROUP BY d.pass_id"
            ):
                total[pass_id] += int(units)
        finally:
            conn.close()
    return total


def attempts(
    passes: list[tuple[str, str]], count: int, seed: int, sent: Counter[tuple[int, int]]
) -> tuple[int, int, Counter[str]]:
    """`count` orders with a pass at a random box; one loop per third of the passes, so one
    pass is never at two boxes at once. Return (orders placed, failures, attempts per pass).

    Each loop has its own third of each box's phones and takes them in turn (`sent` counts its
    orders per box across calls), so no phone holds more than MAX_UNPAID unpaid orders: the
    node refuses the next one from that address (429), which is not what this test is about.
    """
    placed, failed, lock = [0], [0], threading.Lock()
    tried: Counter[str] = Counter()

    def loop(worker: int) -> None:
        rng = random.Random(seed * 10 + worker)
        clients: dict[str, httpx.Client] = {}
        mine = passes[worker :: len(BOXES)]
        for _ in range(count // len(BOXES) + (worker < count % len(BOXES))):
            pass_id, text = rng.choice(mine)
            box = rng.randrange(len(BOXES)) + 1
            turn = sent[worker, box] % (PHONES_PER_BOX // len(BOXES))
            sent[worker, box] += 1
            phone = f"10.215.{box}.{10 + worker + len(BOXES) * turn}"
            if phone not in clients:  # one phone, one connection kept alive
                transport = httpx.HTTPTransport(local_address=phone, verify=False)
                clients[phone] = httpx.Client(transport=transport, timeout=10)
            answer = clients[phone].post(
                f"http://10.215.{box}.2:{NODE_PORT}/order",
                data={"coffee": "1", "pass": text, "tender": "cash"},
            )
            with lock:
                tried[pass_id] += 1
                if answer.status_code == 303:
                    placed[0] += 1
                else:
                    failed[0] += 1
        for client in clients.values():
            client.close()

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(len(BOXES))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads)
    return placed[0], failed[0], tried


@pytest.mark.slow
@pytest.mark.serial  # multicast in namespaces, links cut on a timer, with deadlines
@pytest.mark.timeout(300)
def test_three_boxes_share_redemptions_and_report_every_over_redemption(
    lan: Lan, tmp_path: Path
) -> None:
    started = time.monotonic()
    states = {box: tmp_path / box for box in BOXES}
    for box, state in states.items():
        make_box(state, f"Box {box.upper()}")
    passes = make_passes()
    cloud_state = tmp_path / "cloud"
    procs: list[Proc] = []
    try:
        ca = make_ca(tmp_path / "tls", (CLOUD_LAN, CLOUD_TEST))
        cloud = spawn_in(
            lan.ns("cl"), "cloud", "serve", "--state", str(cloud_state), "--host", "0.0.0.0",
            "--port", str(CLOUD_PORT), *ca.serve_args(),
        )  # fmt: skip
        procs.append(cloud)
        test_url = f"https://{CLOUD_TEST}:{CLOUD_PORT}"
        wait_for("the cloud listens", lambda: "listening" in cloud.text(), 20, procs)
        nodes: dict[str, NodeProcess] = {}
        for i, (box, state) in enumerate(states.items(), start=1):
            enrol(state, cloud_state, test_url, ca_file=ca.ca_file)
            account = load_account(state)
            save_account(
                state, msgspec.structs.replace(account, url=f"https://{CLOUD_LAN}:{CLOUD_PORT}")
            )
            node = spawn_in(
                lan.ns(box), "node", "--state", str(state), "--host", "0.0.0.0", "--port",
                str(NODE_PORT), "--operator-port", str(OPERATOR_PORT), "--interfaces", "all",
            )  # fmt: skip
            procs += [node, spawn_in(lan.ns(box), "sync", "--state", str(state))]
            nodes[box] = NodeProcess(
                node.process, f"http://10.215.{i}.2:{NODE_PORT}", state, node.output,
                f"https://10.215.{i}.2:{OPERATOR_PORT}",
            )  # fmt: skip
        wait_for(
            "every box listens",
            lambda: all("operator on" in "".join(n.output) for n in nodes.values()), 30, procs,
        )  # fmt: skip
        tokens = {box: n.pair() for box, n in nodes.items()}

        def view(box: str) -> dict[str, object]:
            with nodes[box].client(tokens[box]) as api:
                answer = api.get("/api/passes/peers")
            assert answer.status_code == 200, answer.text
            seen: dict[str, object] = answer.json()
            return seen

        try:
            wait_for("every box sees the two others (mDNS on the bridge)",
                     lambda: all(view(b)["in_sight"] for b in BOXES), 30, procs)  # fmt: skip
        except AssertionError:
            raise AssertionError({b: view(b) for b in BOXES}) from None
        ready = time.monotonic()

        # 1. LAN up: no pass beyond its allowance.
        first = ATTEMPTS * 2 // 5
        sent: Counter[tuple[int, int]] = Counter()
        placed, failed, tried = attempts(passes, first, seed=1, sent=sent)
        assert failed == 0 and placed == first
        used = used_per_pass(states)
        assert max(used.values()) <= ALLOWANCE, used.most_common(3)
        # In sight, the whole allowance is usable at any box (not just a box's share of it):
        # every attempt redeemed until the allowance was reached, and none after.
        wrong = {p: (used[p], tried[p]) for p, _ in passes if used[p] != min(tried[p], ALLOWANCE)}
        assert not wrong, wrong
        exhausted = sum(1 for p, _ in passes if used[p] == ALLOWANCE)
        phase1 = time.monotonic()

        # 2. LAN cut: each box redeems only its share.
        lan.set_lan(up=False)
        placed2, failed2, _ = attempts(passes, ATTEMPTS - first, seed=2, sent=sent)
        assert failed2 == 0 and placed2 == ATTEMPTS - first
        used = used_per_pass(states)
        assert max(used.values()) <= ALLOWANCE + BOUND, used.most_common(3)
        over = {p: n for p, n in used.items() if n > ALLOWANCE}
        if ATTEMPTS >= 1000:  # ~29 passes with units left and ~6 attempts each: the cut shows
            assert over, "no over-redemption while cut off: was the LAN cut?"
        lan.set_lan(up=True)
        healed = time.monotonic()

        # 3. Every over-redemption at every box, then at the cloud.
        def found_at(box: str) -> dict[str, int]:
            listed = view(box)["over_redemptions"]
            assert isinstance(listed, list)
            return {o["pass_id"]: o["used"] for o in listed}

        wait_for("every box lists every over-redemption",
                 lambda: all(found_at(b) == over for b in BOXES), 30, procs)  # fmt: skip
        merged = time.monotonic()
        admin = (cloud_state / "admin.token").read_text().strip()

        def at_cloud() -> dict[str, int]:
            answer = httpx.get(
                f"{test_url}/api/passes/over-redemptions",
                headers={"Authorization": f"Bearer {admin}"}, timeout=10, verify=ca.context(),
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            return {o["pass_id"]: o["used"] for o in answer.json()}

        wait_for("the cloud lists every over-redemption", lambda: at_cloud() == over, 30, procs)
        reports = dict(at_cloud().items())
        print(
            f"attempts {ATTEMPTS} on {PASSES} passes (allowance {ALLOWANCE}, 3 boxes, ceil):"
            f" LAN up {first}: max used {ALLOWANCE} or less, {exhausted} passes used up;"
            f" LAN cut {ATTEMPTS - first}: {len(over)} passes over, extra units"
            f" {sum(n - ALLOWANCE for n in over.values())} (bound {BOUND} per pass);"
            f" all {len(reports)} at every box {merged - healed:.1f} s and at the cloud after the"
            f" LAN came back; setup {ready - started:.1f} s, phase 1 {phase1 - ready:.1f} s,"
            f" total {time.monotonic() - started:.1f} s"
        )
    finally:
        stop_all(procs)
