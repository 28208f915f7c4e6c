"""The node asks a real PSP process (API Pix over mutual TLS) and confirms Pix orders by itself.

Issue 14 acceptance: an order paid at the PSP is confirmed by the node within 3 s with no
operator action (PSP_CONFIRM_S, default 3); a credit with the wrong amount or an unknown txid
confirms nothing and is reported; the PSP going down mid-poll loses nothing. Every answer the
PSP gave conforms to BCB's published OpenAPI document (psp_server.py checks each one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from apipix_schema import problems
from nodeproc import NodeProcess, run_cli, start_node
from psp_tls import make_mutual_tls
from pspproc import (
    CLIENT_ID,
    SECRET,
    PspProcess,
    credit_while_down,
    give_credentials,
    provider_config,
    start_psp,
)

PIX = '\n[rails.pix]\nkind = "pix"\nkey = "ana@example.com"\nmerchant = "PASTEL DA ANA"\ncity = "RECIFE"\n'
CONFIRM_S = float(os.environ.get("PSP_CONFIRM_S", "3"))


def wait_for(what: str, check: Callable[[], Any], deadline_s: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def psp(tmp_path: Path) -> Iterator[PspProcess]:
    running = start_psp(tmp_path / "psp")
    yield running
    running.stop()


def start_box(tmp_path: Path, psp: PspProcess) -> NodeProcess:
    box = tmp_path / "box"
    assert run_cli("init", "--state", str(box)).returncode == 0
    with (box / "stallbox.toml").open("a", encoding="utf-8") as config:
        config.write(PIX + provider_config(psp.url))
    give_credentials(box, psp.tls)
    return start_node(box)


def pix_order(api: httpx.Client, qty: int = 1) -> tuple[str, str, str]:
    """An order tendered on Pix: its id, reference (the QR's txid) and total as valor."""
    order = api.post("/api/orders", json={"lines": [{"sku": "pastel", "qty": qty}]}).json()["id"]
    tendered = api.post(f"/api/orders/{order}/tender", json={"tender": "pix"})
    assert tendered.status_code == 200, tendered.text
    total = tendered.json()["order"]["total"]
    return order, tendered.json()["reference"], f"{total // 100}.{total % 100:02d}"


def state_of(api: httpx.Client, order: str) -> tuple[str, str | None]:
    got = api.get(f"/api/orders/{order}").json()
    return got["state"], got["evidence"]


def test_a_paid_order_is_confirmed_within_3_s_and_a_lying_psp_confirms_nothing(
    tmp_path: Path, psp: PspProcess
) -> None:
    node = start_box(tmp_path, psp)
    try:
        with node.client(node.pair()) as api:
            order, reference, valor = pix_order(api, qty=2)
            assert state_of(api, order) == ("awaiting_payment", None)
            with node.phone() as phone, phone.stream("GET", f"/o/{order}/events") as events:
                lines = events.iter_lines()  # what the attendee's pay page listens to
                assert "awaiting_payment" in next(line for line in lines if line.startswith("data"))
                paid = psp.pay(reference, valor)
                paid_at = time.monotonic()
                flipped = next(line for line in lines if line.startswith("data"))
                assert '"state":"paid"' in flipped and '"evidence":"bank"' in flipped
            wait_for("bank ✓", lambda: state_of(api, order) == ("paid", "bank"), CONFIRM_S + 5)
            took = time.monotonic() - paid_at
            print(f"confirmed by the node {took:.2f} s after the PSP recorded the payment")
            assert took <= CONFIRM_S
            bank = api.get("/api/bank").json()
            assert bank["link"] == "ok" and bank["confirmed"] == 1 and bank["problems"] == []
            with node.phone() as phone:
                assert 'data-evidence="bank"' in phone.get(f"/o/{order}").text  # the receipt page

            # now the PSP lies; nothing it says is confirmed, each lie is reported once
            short, short_ref, _ = pix_order(api, qty=3)
            psp.pay(short_ref, "0.01")  # wrong amount under the order's txid
            psp.pay("ZZZZ9", "9.00")  # a txid no order here carries
            waiting, waiting_ref, waiting_valor = pix_order(api)
            # the honest credit's end-to-end id again, now claiming to pay another order
            psp.pay(waiting_ref, waiting_valor, e2eid=paid["endToEndId"])

            def reported() -> set[str]:
                return {p["problem"] for p in api.get("/api/bank").json()["problems"]}

            found = wait_for("three reports", lambda: reported() >= {
                "wrong_amount", "unknown_txid", "duplicate_e2eid"} and reported())  # fmt: skip
            assert found == {"wrong_amount", "unknown_txid", "duplicate_e2eid"}
            seen = psp.report()["requests"]
            wait_for("two more polls", lambda: psp.report()["requests"] >= seen + 2)
            assert state_of(api, short) == ("awaiting_payment", None)
            assert state_of(api, waiting) == ("awaiting_payment", None)
            assert len(api.get("/api/bank").json()["problems"]) == 3  # each reported once
        verified = run_cli("ledger", "verify", "--state", str(node.state))
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        assert node.stop() == 0
    report = psp.report()
    assert report["violations"] == [] and report["requests"] > 0
    check_conformance(psp, paid)


def test_the_psp_killed_mid_poll_loses_nothing(tmp_path: Path, psp: PspProcess) -> None:
    node = start_box(tmp_path, psp)
    back: PspProcess | None = None
    try:
        with node.client(node.pair()) as api:
            waiting, waiting_ref, waiting_valor = pix_order(api)
            by_sight, by_sight_ref, by_sight_valor = pix_order(api)
            wait_for("a first poll", lambda: api.get("/api/bank").json()["link"] == "ok")
            with psp.client() as control:
                control.post("/_test/hang")
            seen = psp.report()["requests"]
            wait_for("a poll in flight", lambda: psp.report()["requests"] > seen)
            psp.kill()  # in the middle of the node's request
            wait_for("the link down", lambda: api.get("/api/bank").json()["link"] == "unreachable")
            # offline: the vendor confirms one by sight (the policy decides; it stays unverified)
            done = api.post(f"/api/orders/{by_sight}/confirm", json={}).json()
            assert done["accepted"] and state_of(api, by_sight) == ("paid", "unverified")
            for reference, valor, n in (
                (waiting_ref, waiting_valor, 1),
                (by_sight_ref, by_sight_valor, 2),
            ):
                credit_while_down(psp.state, {
                    "endToEndId": f"E18236120202612041800down{n:07d}", "txid": reference,
                    "valor": valor, "horario": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                })  # fmt: skip
            assert state_of(api, waiting) == ("awaiting_payment", None)
            back = start_psp(tmp_path / "psp", port=psp.port)
            wait_for("both bank ✓", lambda: state_of(api, waiting) == ("paid", "bank")
                     and state_of(api, by_sight) == ("paid", "bank"), 20)  # fmt: skip
            assert api.get("/api/bank").json()["link"] == "ok"
    finally:
        assert node.stop() == 0
        if back is not None:
            assert back.report()["violations"] == []
            back.stop()


def test_the_node_refuses_to_start_with_credentials_others_can_read(tmp_path: Path) -> None:
    box = tmp_path / "box"
    assert run_cli("init", "--state", str(box)).returncode == 0
    with (box / "stallbox.toml").open("a", encoding="utf-8") as config:
        config.write(PIX + provider_config("https://127.0.0.1:9"))  # never asked: refused first
    give_credentials(box, make_mutual_tls(tmp_path / "tls"))
    (box / "provider" / "oauth.json").chmod(0o644)
    started = run_cli("node", "--state", str(box), "--port", "0", "--operator-port", "0",
                      "--interfaces", "loopback")  # fmt: skip
    assert started.returncode == 3, started.stdout + started.stderr
    assert "provider/oauth.json: mode 0644: must be 0600" in started.stderr
    assert "test-secret" not in started.stdout + started.stderr


def check_conformance(psp: PspProcess, paid: dict[str, Any]) -> None:
    """Every endpoint the connector uses answers within BCB's published document (200/404/403),
    and the check has teeth."""
    with psp.client() as client:
        token = client.post("/oauth/token", auth=(CLIENT_ID, SECRET),
                            data={"grant_type": "client_credentials"}).json()["access_token"]  # fmt: skip
        bearer = {"Authorization": f"Bearer {token}"}
        window = {"inicio": "2020-01-01T00:00:00Z", "fim": "2099-01-01T00:00:00Z"}
        answers = [
            ("/pix", client.get("/api/v2/pix", params=window, headers=bearer)),
            ("/pix/{e2eid}", client.get(f"/api/v2/pix/{paid['endToEndId']}", headers=bearer)),
            ("/pix/{e2eid}", client.get(f"/api/v2/pix/E{'0' * 31}", headers=bearer)),
            (
                "/pix",
                client.get("/api/v2/pix", params=window, headers={"Authorization": "Bearer x"}),
            ),
        ]
    assert [a.status_code for _, a in answers] == [200, 200, 404, 403]
    for path, answer in answers:
        assert problems(path, "get", answer.status_code, answer.json()) == []
    assert paid in answers[0][1].json()["pix"] and answers[1][1].json() == paid
    assert psp.report()["violations"] == []
    # the check has teeth: what a careless PSP might send fails it, naming the field
    bad = {**answers[0][1].json(), "pix": [{**paid, "valor": "18.5"}]}
    assert any("valor" in p for p in problems("/pix", "get", 200, bad))
    assert problems("/pix", "get", 200, {"pix": []})  # no parametros
