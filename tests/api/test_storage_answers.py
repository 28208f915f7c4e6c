"""A full disk through the node's app (in process): 507s, a degraded /healthz, reads go on, and a
sale that committed is answered as committed even when the write beside its follow-up fails.

The disk is made "full" with SQLite's max_page_count on the writer's connection, which gives the
same SQLITE_FULL a real ENOSPC gives (tests/e2e/test_disk_full.py fills a real tmpfs).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from node_support import running_node

from appliance.api.app import Planes
from appliance.api.locale import Languages
from appliance.config import parse_config, sample_config
from appliance.services.box import init_state
from appliance.services.checkout import Confirmation
from appliance.store.errors import DiskFull

FILLER_ROWS = 20_000  # bound on the rows written to use up the free space inside the pages
STORAGE_FULL = (
    "The stall's box is out of storage and cannot take orders right now. Please ask the vendor."
)


def fill(conn: sqlite3.Connection) -> None:
    """No page more, and no room left in those there are: every new row fails with SQLITE_FULL."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(FILLER_ROWS):
        try:
            conn.execute("INSERT INTO meta VALUES (?, 'x')", (f"filler-{i:05}",))
        except sqlite3.OperationalError:
            return  # full; this row (not the whole transaction, in a savepoint) is undone
    raise AssertionError("the database never filled")


class FullAtCommit:
    """The writer's connection, but while `full` a COMMIT that wrote rows fails with SQLITE_FULL,
    as it does on a real full disk in WAL mode, where the pages reach the file at COMMIT."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.real = conn
        self.full = False
        self.changes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE":
            self.changes = self.real.total_changes
        if sql == "COMMIT" and self.full and self.real.total_changes != self.changes:
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise exc
        return self.real.execute(sql, *args)


def another_write(conn: sqlite3.Connection) -> None:
    """Another request's write: it needs new pages."""
    conn.execute("INSERT INTO meta VALUES ('other', hex(randomblob(60000)))")


async def cash_order(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    made = await client.post(
        "/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]}, headers=headers
    )
    assert made.status_code == 201, made.text
    order_id = str(made.json()["id"])
    tendered = await client.post(
        f"/api/orders/{order_id}/tender", json={"tender": "cash"}, headers=headers
    )
    assert tendered.status_code == 200, tendered.text
    return order_id


def test_a_committed_sale_is_answered_as_committed_when_the_disk_fills_behind_it(
    tmp_path: Path,
) -> None:
    """Issue 12: the sale committed, then its outbox recount shared a batch with a write that hit
    the full disk (SQLite rolled the whole batch back) and the vendor was told 500."""

    async def scenario() -> tuple[httpx.Response, list[Any], int]:
        async with running_node(tmp_path / "state") as (client, headers, node):
            order_id = await cash_order(client, headers)
            confirm = node.checkout.confirm
            others: list[asyncio.Future[None]] = []

            async def confirm_then_the_disk_fills(order: str, **kw: Any) -> Confirmation:
                done = await confirm(order, **kw)  # committed
                await node.box.writer.run(fill)
                others.append(asyncio.ensure_future(node.box.writer.run(another_write)))
                return done  # the handler's follow-up read is queued in this same turn

            node.checkout.confirm = confirm_then_the_disk_fills  # type: ignore[method-assign,assignment]
            answer = await client.post(f"/api/orders/{order_id}/confirm", json={}, headers=headers)
            other = await asyncio.gather(*others, return_exceptions=True)
            receipt_seq = await node.box.writer.read(
                lambda conn: conn.execute(
                    "SELECT receipt_seq FROM orders WHERE id = ?", (order_id,)
                ).fetchone()[0]
            )
            return answer, other, receipt_seq

    answer, other, receipt_seq = asyncio.run(scenario())
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] is True
    assert receipt_seq == answer.json()["receipt"]["seq"]  # in the DB, with its receipt
    assert isinstance(other[0], DiskFull)  # the write beside it did fail


def test_a_full_disk_is_507_reads_go_on_and_writes_resume(tmp_path: Path) -> None:
    async def scenario() -> dict[str, httpx.Response]:
        seen: dict[str, httpx.Response] = {}
        async with running_node(tmp_path / "state") as (client, headers, node):
            disk = FullAtCommit(node.box.writer._conn)
            node.box.writer._conn = disk  # type: ignore[assignment]
            seen["health-before"] = await client.get("/healthz")
            drop = {"sku": "pastel", "quantity": 5, "starts_at": datetime.now(UTC).isoformat()}
            scheduled = await client.post("/api/drops", json=drop, headers=headers)
            assert scheduled.status_code == 201, scheduled.text
            disk.full = True
            claim = {"qty": "1", "tender": "cash"}  # through the claim's fast path
            seen["claim"] = await client.post(f"/d/{scheduled.json()['id']}/claim", data=claim)
            line = {"lines": [{"sku": "coffee", "qty": 1}]}
            seen["order"] = await client.post("/api/orders", json=line, headers=headers)
            form = {"coffee": "1", "tender": "cash"}
            seen["attendee-order"] = await client.post("/order", data=form)
            seen["health-full"] = await client.get("/healthz")
            seen["stats-full"] = await client.get("/api/stats", headers=headers)
            seen["menu-full"] = await client.get("/")
            seen["catalog-full"] = await client.get("/api/catalog", headers=headers)
            disk.full = False
            seen["order-after"] = await client.post("/api/orders", json=line, headers=headers)
            seen["health-after"] = await client.get("/healthz")
        return seen

    seen = asyncio.run(scenario())
    assert seen["health-before"].status_code == 200
    assert seen["health-before"].json()["ok"] is True
    assert seen["order"].status_code == 507
    assert "out of storage" in seen["order"].json()["error"]
    assert seen["attendee-order"].status_code == 507
    full = Languages("pt-BR", UTC).fallback.gettext(STORAGE_FULL)  # the sample's locale
    assert full.startswith("A caixa da barraca")
    assert full in seen["attendee-order"].text
    assert seen["attendee-order"].headers["content-type"].startswith("text/html")
    assert seen["claim"].status_code == 507
    assert full in seen["claim"].text
    assert seen["health-full"].status_code == 503
    assert seen["health-full"].json()["ok"] is False
    assert seen["health-full"].json()["storage"] == "full"
    assert seen["stats-full"].status_code == 200
    assert seen["stats-full"].json()["storage"] == "full"
    assert seen["menu-full"].status_code == 200 and "Coffee" in seen["menu-full"].text
    assert seen["catalog-full"].status_code == 200
    assert seen["order-after"].status_code == 201  # no restart
    assert seen["health-after"].status_code == 200
    assert seen["health-after"].json()["storage"] in ("ok", "low")


@pytest.mark.parametrize("free_mb", [0, 10**9])
def test_start_warns_below_the_free_space_threshold(
    tmp_path: Path, free_mb: int, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    text = sample_config("BRL").replace("warn_free_mb = 64", f"warn_free_mb = {free_mb}")
    app = Planes(parse_config(text), state, port=0, operator_port=0, advertise=False).operator

    async def start() -> str:
        async with app.router.lifespan_context(app):
            return str(app.state.node.storage().state)

    assert asyncio.run(start()) == ("ok" if free_mb == 0 else "low")
    warned = [r.message for r in caplog.records if "storage low" in r.message]
    assert bool(warned) == (free_mb > 0), warned
