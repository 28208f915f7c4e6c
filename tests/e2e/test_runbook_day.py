"""docs/operations.md's close and restock runbooks on real processes (issue 22).

The node runs; `stallbox close` and `stallbox restock` reach it over its on-box socket. With the
node stopped the same commands work on the state dir. The close report's figures are checked
against the ledger's own lines (`stallbox ledger export`), and restocked units must sell.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nodeproc import NodeProcess, run_cli, start_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = start_node(tmp_path / "s")
    yield running
    running.stop()


def sell(api: httpx.Client, **lines: int) -> httpx.Response:
    """Ring up, tender cash and confirm; the confirm's answer (or the refusal before it)."""
    body = {"lines": [{"sku": sku, "qty": qty} for sku, qty in lines.items()]}
    made = api.post("/api/orders", json=body)
    if made.status_code != 201:
        return made
    order = made.json()["id"]
    assert api.post(f"/api/orders/{order}/tender", json={"tender": "cash"}).status_code == 200
    return api.post(f"/api/orders/{order}/confirm", json={})


def cli_json(*args: str) -> Any:
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def exported(state: Path) -> list[list[str]]:
    done = run_cli("ledger", "export", "--state", str(state))
    assert done.returncode == 0, done.stderr
    return [line.split(";") for line in done.stdout.splitlines()]


def test_restock_then_close_runbooks(node: NodeProcess) -> None:
    """One node for both runbooks (a node start is most of each): restock, then close."""
    state = str(node.state)
    counted = run_cli("restock", "pastel", "1", "--set", "--operator", "ana", "--state", state)
    assert counted.returncode == 0, counted.stderr
    assert "pastel (Pastel): stock 1" in counted.stdout
    with node.client(node.pair()) as api:
        assert sell(api, pastel=1).status_code == 200
        refused = sell(api, pastel=1)
        assert refused.status_code == 409 and "0 left" in refused.text
        added = run_cli("restock", "pastel", "4", "--note", "second crate", "--state", state)
        assert added.returncode == 0, added.stderr
        assert "stock 4" in added.stdout
        assert [sell(api, pastel=1).status_code for _ in range(2)] == [200, 200]  # new stock sells
        moves = api.get("/api/stock-moves").json()
        assert [(m["delta"], m["operator"], m["note"]) for m in moves] == [
            (4, "cli", "second crate"), (-39, "ana", ""),
        ]  # fmt: skip
    bad = run_cli("restock", "nope", "1", "--state", state)
    assert bad.returncode != 0 and "no item with sku 'nope'" in bad.stderr
    close_runbook_report_equals_the_ledger(node)


def close_runbook_report_equals_the_ledger(node: NodeProcess) -> None:
    """Sell, void, close over the socket; then the report against `ledger export`."""
    state = str(node.state)
    with node.client(node.pair()) as api:
        sold = [sell(api, coffee=1).json() for _ in range(3)]
        assert sell(api, coffee=2).status_code == 200
        void = api.post(f"/api/orders/{sold[0]['order']['id']}/void")
        assert void.status_code == 200, void.text
    preview = cli_json("close", "--preview", "--json", "--state", state)  # via the node's socket
    report = cli_json("close", "--yes", "--json", "--state", state)
    assert not preview["closed"] and report["closed"]
    assert (preview["gross"], preview["voided"]) == (report["gross"], report["voided"])
    assert node.stop() == 0
    verified = run_cli("ledger", "verify", "--state", state)
    assert verified.returncode == 0, verified.stderr
    lines = exported(node.state)
    close = lines[report["seq"]]
    assert close[6] == "close" and ";".join(close) == report["line"]
    period = [f for f in lines if report["from_seq"] <= int(f[4]) <= report["to_seq"]]
    sales = [int(f[8]) for f in period if f[6] == "sale"]
    voids = [int(f[8]) for f in period if f[6] == "void"]
    assert (report["sales"], report["gross"]) == (len(sales), sum(sales))
    assert len(sales) == 3 + 4 and sum(sales) > 0  # the restock runbook's 3, then these 4
    assert (report["voids"], report["voided"]) == (len(voids), sum(voids))
    assert len(voids) == 1 and sum(voids) > 0
    assert int(close[8]) == report["gross"]
    assert report["cash_expected"] == sum(sales) - sum(voids)  # every sale here was cash
    # with the node stopped the command runs on the state dir: the next period is empty
    after = cli_json("close", "--preview", "--json", "--state", state)
    assert (after["from_seq"], after["sales"], after["gross"]) == (report["seq"] + 1, 0, 0)
    text = run_cli("close", "--preview", "--state", state).stdout
    assert "cash expected in the drawer: 0.00" in text
    offline = run_cli("restock", "pastel", "5", "--state", state)  # and restock, node stopped
    assert offline.returncode == 0 and "stock 7" in offline.stdout, offline.stderr
