"""A hostile neighbour against a real node's relay, with a real cloud (docs/security.md, "Neighbours").

Real processes on loopback: `stallbox cloud serve`, and the relaying box's `stallbox node`
enrolled with it. Strangers post from other 127.0.0.0/8 source addresses. Before the fix one
stranger could fill the relay with unsigned junk under made-up device ids, drop a neighbour's
waiting batches with one unsigned line, and fill its per-origin queue with tiny junk (503 to
the real origin). Now every line must be the origin's, signed with the key the relay's cloud
trusts, and each address has its rate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nodeproc import NodeProcess, start_node
from syncproc import Proc, enrol, make_sales, start_cloud

from appliance.ledger.receipt import GENESIS_PREV, b64
from appliance.ledger.wire import VERSION, Batch, WireReceipt, encode
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync


@dataclass
class Market:
    node: NodeProcess
    victim: Path
    device: str

    def stranger(self, address: str) -> httpx.Client:
        """A client of the relay's operator plane from `address` (no pin: strangers need none)."""
        transport = httpx.HTTPTransport(local_address=address, verify=False)
        return httpx.Client(base_url=self.node.operator_url, transport=transport, timeout=20)

    def rows(self) -> list[tuple[str, int, int]]:
        conn = sqlite3.connect(self.node.state / DB_NAME)
        try:
            return list(conn.execute("SELECT origin, from_seq, last_seq FROM relay_batches"))
        finally:
            conn.close()


def batch_of(state: Path, first: int, last: int, known: int = 0) -> bytes:
    conn = open_sync(state / DB_NAME)
    try:
        rows = syncstate.pending(conn, first - 1, last - first + 1, 1 << 20)
    finally:
        conn.close()
    prev = b64(GENESIS_PREV) if first == 0 else rows[0].line.split(";")[10]
    wire = [WireReceipt(r.seq, r.line, r.items) for r in rows]
    return encode(Batch(VERSION, first, prev, wire, known))


def unsigned(line: str, origin: str, seq: int, pad: int = 0) -> bytes:
    """A batch of one line that parses as `origin`'s receipt `seq`, signed by nobody."""
    fields = line.split(";")
    fields[1], fields[4] = origin, str(seq)
    fields[8] = str(int(fields[8]) + 1)  # another total: the signature no longer covers it
    return encode(Batch(VERSION, seq, fields[10], [WireReceipt(seq, ";".join(fields), "x" * pad)]))


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    relay, victim, cloud_state = tmp_path / "relay", tmp_path / "victim", tmp_path / "cloud"
    make_sales(relay, 1)
    make_sales(victim, 8)
    cloud: Proc = start_cloud(cloud_state)
    node = None
    try:
        enrol(relay, cloud_state, cloud.url)
        enrol(victim, cloud_state, cloud.url)
        conn = open_sync(victim / DB_NAME)
        device = conn.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()[0]
        conn.close()
        node = start_node(relay)
        yield Market(node, victim, device)
    finally:
        if node is not None:
            node.stop()
        cloud.stop()


def test_a_stranger_can_neither_fill_nor_empty_a_neighbours_relay(market: Market) -> None:
    url = f"/relay/v1/devices/{market.device}/batches"
    victim, one, two = (market.stranger(f"127.0.0.{n}") for n in (5, 2, 3))
    assert victim.post(url, content=batch_of(market.victim, 0, 3)).status_code == 202
    line = (
        open_sync(market.victim / DB_NAME)
        .execute("SELECT line FROM receipts WHERE seq = 1")
        .fetchone()[0]
    )
    # Unsigned lines under the victim's name (once these dropped its waiting batch): 422.
    answer = one.post(url, content=unsigned(line, market.device, 1000))
    assert answer.status_code == 422 and answer.json()["field"] == "receipts[0]", answer.text
    # A genuine later line (a receipt QR) is stored, but drops nothing that waits; its
    # variants (another known_size each) take one place, not the victim's 64.
    assert one.post(url, content=batch_of(market.victim, 7, 7)).status_code == 202
    codes = [
        (one if k % 2 else two).post(url, content=batch_of(market.victim, 7, 7, k)).status_code
        for k in range(30)
    ]
    assert set(codes) <= {202, 429} and codes.count(202) >= 20, codes
    assert sorted(r[1:] for r in market.rows()) == [(0, 3), (7, 7)]
    assert victim.post(url, content=batch_of(market.victim, 0, 5)).status_code == 202
    # 250 KB of junk under made-up device ids, one per address: refused, nothing stored.
    for n in range(8):
        origin = "abcdefgh"[n] + "aaaaaaaaa"
        junk = unsigned(line, origin, 0, pad=250_000)
        answer = market.stranger(f"127.0.1.{n + 1}").post(
            f"/relay/v1/devices/{origin}/batches", content=junk
        )
        assert answer.status_code == 403 and answer.json()["field"] == "origin", answer.text
    assert sorted(r[1:] for r in market.rows()) == [(0, 5), (7, 7)]
    # One address posting fast is slowed down with a 429 naming the limit; others are not.
    codes = [two.post(url, content=b"{").status_code for _ in range(25)]
    assert codes[-1] == 429
    slowed = two.post(url, content=b"{")
    assert slowed.json()["field"] == "relay.rate_per_address" and slowed.headers["retry-after"]
    assert market.stranger("127.0.0.9").post(url, content=b"{").status_code == 400
