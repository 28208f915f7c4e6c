"""The node as a real process: readiness, SIGTERM, pairing and tokens, bad input, discovery."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nodeproc import NodeProcess, run_cli, start_node

from appliance.ledger.identity import fingerprint, identity_proven, load_key
from appliance.ledger.receipt import b64, unb64
from appliance.services.pairing import Pairing
from tui.errors import Refused, Unauthorized
from tui.pairing import pair_blocking


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = start_node(tmp_path / "state")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_sigterm_ends_the_node_cleanly_within_5s(node: NodeProcess) -> None:
    with node.phone() as client:
        assert client.get("/healthz").json()["ok"] is True
    started = time.monotonic()
    assert node.stop(timeout=5) == 0
    assert time.monotonic() - started < 5
    # the database was closed: the last connection's close checkpoints and removes the WAL
    assert not (node.state / "stallbox.db-wal").exists()
    conn = sqlite3.connect(node.state / "stallbox.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_cash_sale_through_the_api(node: NodeProcess) -> None:
    token = node.pair()
    with node.client(token) as api:
        order = api.post("/api/orders", json={"lines": [{"sku": "pastel", "qty": 2}]}).json()
        tendered = api.post(f"/api/orders/{order['id']}/tender", json={"tender": "cash"}).json()
        assert tendered["reference"] == "001Y"
        done = api.post(f"/api/orders/{order['id']}/confirm", json={}).json()
        assert done["accepted"] and done["receipt"]["seq"] == 1
        assert done["decision"]["reason"] == "cash in hand"
        stats = api.get("/api/stats").json()
        assert stats["sales"] == 1 and stats["edge_decision_rate"] == 1.0
        assert "stallbox_sales_total 1.0" in api.get("/metrics").text
    assert node.stop() == 0
    assert run_cli("ledger", "verify", "--state", str(node.state)).returncode == 0


def test_tokens_forged_expired_missing_or_revoked_are_refused(node: NodeProcess) -> None:
    token = node.pair()
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    key = load_key(node.state)
    expired = Pairing(node.state, key, "node").issue("old", 0, time.time() - 13 * 3600)
    with node.client() as anonymous:
        assert anonymous.get("/api/catalog").status_code == 401
        for bad in (forged, expired, "SBT1.x.y", "nonsense"):
            answer = anonymous.get("/api/catalog", headers={"Authorization": f"Bearer {bad}"})
            assert answer.status_code == 401, bad
            assert "error" in answer.json()
        good = anonymous.get("/api/catalog", headers={"Authorization": f"Bearer {token}"})
        assert good.status_code == 200
        assert run_cli("pair", "--revoke", "--yes", "--state", str(node.state)).returncode == 0
        revoked = anonymous.get("/api/catalog", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]


def test_a_pairing_code_works_once_and_wrong_codes_are_limited(node: NodeProcess) -> None:
    code = run_cli("pair", "--state", str(node.state)).stdout.split()[2]
    with node.client() as client:
        assert pair_blocking(client, code, "t", node.fingerprint).token
        with pytest.raises(Unauthorized, match="no pairing code is waiting"):
            pair_blocking(client, code, "t", node.fingerprint)  # used once
        fresh = run_cli("pair", "--state", str(node.state)).stdout.split()[2]
        wrong = f"{(int(fresh) + 1) % 10**6:06d}"
        outcomes: list[int] = []
        for _ in range(7):  # until this address is stopped: by its rate, or its share of the code
            try:
                pair_blocking(client, wrong, "t", node.fingerprint)
            except Unauthorized as exc:
                outcomes.append(401 if "wrong pairing code" in exc.error else 0)
            except Refused as exc:
                outcomes.append(exc.status)
                break
        assert outcomes[-1] == 429 and 1 <= outcomes.count(401) == len(outcomes) - 1 <= 5, outcomes
        locked = client.post("/api/pair/start", json={"name": "t"})
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_bad_input_is_a_4xx_naming_the_field_and_changes_nothing(node: NodeProcess) -> None:
    token = node.pair()
    with node.client(token) as api:
        order = api.post("/api/orders", json={"lines": [{"sku": "pastel"}]}).json()
        before = api.get(f"/api/orders/{order['id']}").json()
        cases = [
            ("/api/orders", {"lines": [{"sku": "pastel", "qty": 0}]}, 422, "lines[0].qty"),
            ("/api/orders", {"surprise": 1}, 422, "surprise"),
            (f"/api/orders/{order['id']}/lines", {"sku": "nope"}, 409, "sku"),
            (f"/api/orders/{order['id']}/tender", {"tender": "card"}, 409, None),
            (f"/api/orders/{order['id']}/confirm", {}, 409, None),
            (f"/api/orders/{order['id']}/void", {}, 409, None),
            ("/api/orders/does-not-exist/cancel", {}, 404, None),
        ]
        for path, body, status, field in cases:
            answer = api.post(path, json=body)
            assert answer.status_code == status, (path, answer.text)
            assert answer.json()["error"]
            if field:
                assert answer.json()["field"] == field
        assert api.post("/api/orders", content=b"{not json").status_code == 400
        open_before = api.get("/api/orders", params={"state": "open"}).json()
        unknown = api.post("/api/orders", json={"lines": [{"sku": "coffee"}, {"sku": "nope"}]})
        assert unknown.status_code == 409 and unknown.json()["field"] == "sku"
        assert (
            api.get("/api/orders", params={"state": "open"}).json() == open_before
        )  # no half order
        assert api.get("/api/orders?state=lost").status_code == 422
        assert api.get(f"/api/orders/{order['id']}").json() == before


@pytest.mark.serial  # mDNS on the loopback: other tests' nodes and a busy CPU slow the answers
def test_discover_finds_the_node_with_its_key_fingerprint(node: NodeProcess) -> None:
    expected = fingerprint(load_key(node.state).public)
    found = run_cli("discover", "--interfaces", "loopback", "--timeout", "5")
    assert found.returncode == 0, found.stderr
    assert node.operator_url in found.stdout  # consoles go to the operator plane
    assert expected in found.stdout


def test_the_openapi_document_is_served(node: NodeProcess) -> None:
    with node.client() as client:
        document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/api/orders/{order_id}/confirm" in document["paths"]


def test_the_node_proves_its_key_and_lists_its_tenders(node: NodeProcess) -> None:
    key = load_key(node.state)
    challenge = os.urandom(32)
    with node.client() as client:
        answer = client.get("/api/identity", params={"challenge": b64(challenge)})
        assert answer.status_code == 200, answer.text
        shown = answer.json()
        public = Ed25519PublicKey.from_public_bytes(unb64(shown["public_key"], 32, "public_key"))
        assert shown["fingerprint"] == fingerprint(public) == fingerprint(key.public)
        signature = unb64(shown["signature"], 64, "signature")
        assert identity_proven(public, challenge, signature)
        assert not identity_proven(public, os.urandom(32), signature)  # bound to the challenge
        for bad in ("", "short", "!" * 30):
            refused = client.get("/api/identity", params={"challenge": bad})
            assert refused.status_code == 422 and refused.json()["field"] == "challenge"
        assert client.get("/api/tenders").status_code == 401
    with node.client(node.pair()) as api:
        assert api.get("/api/tenders").json() == ["cash"]
