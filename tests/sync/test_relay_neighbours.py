"""A stranger on the market's Wi-Fi against a box's relay (docs/security.md, "Neighbours").

The relay endpoint has no auth: before a batch is stored, every line must be the named origin's,
signed with the key the relay's own cloud trusts for it, linked and matching its items; each
origin has its share of the queue, each source address its request rate. In-process: the node
app and the cloud app over ASGITransport, real SQLite files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from relay_support import CloudHarness, make_box, node_app
from test_relay_endpoints import batch_of

from appliance.services.relay_keys import KeyUnavailable, OriginKeys
from appliance.store import relay as relay_sql
from appliance.store.connection import DB_NAME, open_sync


@dataclass
class Market:
    cloud: CloudHarness
    origin: Path
    device: str
    peer: Path
    app: object

    def client(self, address: str) -> httpx.AsyncClient:
        """A client on the node's LAN side, seen as coming from `address`."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="https://peer")

    def rows(self) -> list[tuple[int, int, int | None]]:
        conn = open_sync(self.peer / DB_NAME)
        try:
            sql = "SELECT from_seq, last_seq, status FROM relay_batches ORDER BY id"
            return [tuple(r) for r in conn.execute(sql)]
        finally:
            conn.close()


@asynccontextmanager
async def market(tmp_path: Path) -> AsyncIterator[Market]:
    origin, peer = tmp_path / "origin", tmp_path / "peer"
    make_box(origin, 8)
    make_box(peer, 1)
    cloud = await CloudHarness.open(tmp_path / "cloud.db")
    try:
        device = (await cloud.enrol(origin, "origin")).device
        await cloud.enrol(peer, "peer")
        app = node_app(peer, "Peer Stall")
        async with app.router.lifespan_context(app):
            cloud.serve_keys(app)
            yield Market(cloud, origin, device, peer, app)
    finally:
        await cloud.close()


def forged(body: bytes, total: str = "951") -> bytes:
    """The batch with its first sale's total changed: a line nobody signed."""
    return body.replace(b";950;", f";{total};".encode(), 1)


def test_a_stranger_stores_nothing_but_the_origins_signed_receipts(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with market(tmp_path) as m:
            stranger = m.client("127.0.0.2")
            url = f"/relay/v1/devices/{m.device}/batches"
            good = batch_of(m.origin, 0, 3)
            # A made-up device id the cloud does not know: 403, nothing stored.
            made_up = good.replace(m.device.encode(), b"aaaaaaaaaa")
            answer = await stranger.post("/relay/v1/devices/aaaaaaaaaa/batches", content=made_up)
            assert answer.status_code == 403 and answer.json()["field"] == "origin", answer.text
            # The real origin's name on a line nobody signed: 422 naming the line.
            answer = await stranger.post(url, content=forged(good))
            assert answer.status_code == 422 and answer.json()["field"] == "receipts[1]"
            # Items that are not the line's, or a prev_hash that is not its link: 422.
            answer = await stranger.post(
                url, content=good.replace(b'unit\\":950', b'unit\\":951', 1)
            )
            assert answer.status_code == 422 and "items" in answer.json()["error"]
            later = batch_of(m.origin, 2, 3)
            unlinked = later.replace(later.split(b'"prev_hash":"')[1][:22], b"A" * 22, 1)
            answer = await stranger.post(url, content=unlinked)
            assert answer.status_code == 422 and "prev" in answer.json()["error"]
            assert m.rows() == []
            # The origin's own batch is stored; a stranger replaying a later genuine line of it
            # (from a receipt QR) no longer drops the waiting one.
            assert (await m.client("127.0.0.5").post(url, content=good)).status_code == 202
            assert (await stranger.post(url, content=batch_of(m.origin, 6, 6))).status_code == 202
            assert m.rows() == [(0, 3, None), (6, 6, None)]

    asyncio.run(scenario())


def test_each_origin_and_address_has_its_share(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with market(tmp_path) as m:
            url = f"/relay/v1/devices/{m.device}/batches"
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(relay_sql, "MAX_ORIGIN_BYTES", len(batch_of(m.origin, 0, 3)) + 10)
                client = m.client("127.0.0.5")
                assert (await client.post(url, content=batch_of(m.origin, 0, 3))).status_code == 202
                full = await client.post(url, content=batch_of(m.origin, 4, 5))
            assert full.status_code == 507 and full.headers["retry-after"] == "30"
            assert full.json()["field"] == "relay.max_bytes_per_origin"
            # One address that posts too fast is slowed down; another is not.
            stranger, codes = m.client("127.0.0.2"), []
            for _ in range(25):
                codes.append((await stranger.post(url, content=b"{")).status_code)
            assert codes.count(400) == 20 and codes[-1] == 429
            slowed = await stranger.post(url, content=b"{")
            assert (
                slowed.json()["field"] == "relay.rate_per_address" and slowed.headers["retry-after"]
            )
            assert (await m.client("127.0.0.3").post(url, content=b"{")).status_code == 400

    asyncio.run(scenario())


def test_without_its_cloud_the_relay_stores_nothing(tmp_path: Path) -> None:
    async def unreachable(origin: str) -> None:
        raise KeyUnavailable("cannot ask the cloud for keys: ConnectError")

    async def scenario() -> None:
        async with market(tmp_path) as m:
            m.app.state.node.relay_keys = OriginKeys(unreachable)  # type: ignore[attr-defined]
            url = f"/relay/v1/devices/{m.device}/batches"
            answer = await m.client("127.0.0.5").post(url, content=batch_of(m.origin, 0, 1))
            assert answer.status_code == 503 and answer.json()["field"] == "origin"
            assert m.rows() == []

    asyncio.run(scenario())


def test_the_cloud_is_asked_once_per_origin_a_while() -> None:
    asked: list[str] = []
    now = [0.0]

    async def fetch(origin: str) -> None:
        asked.append(origin)

    async def scenario() -> None:
        keys = OriginKeys(fetch, clock=lambda: now[0])
        for _ in range(5):
            assert await keys.key("aaaaaaaaaa") is None
            assert await keys.key("aaaaaaaaaa", fresh=True) is None
        assert asked == ["aaaaaaaaaa"]
        now[0] = 61.0
        await keys.key("aaaaaaaaaa")
        assert asked == ["aaaaaaaaaa"] * 2

    asyncio.run(scenario())


def test_answers_to_others_batches_in_an_origins_name_do_not_crowd_out_its_own(
    tmp_path: Path,
) -> None:
    """Genuine lines replayed with made-up `known_size`s are answered by the cloud too: the
    origin asks only for answers built on its own tree size, and each origin keeps a bounded
    number of answers."""

    def answer_all(m: Market) -> None:
        conn = open_sync(m.peer / DB_NAME)
        try:
            while (queued := relay_sql.next_queued(conn)) is not None:
                relay_sql.record_answer(conn, queued.id, 200, "{}", datetime.now(UTC))
        finally:
            conn.close()

    async def scenario() -> None:
        async with market(tmp_path) as m:
            url = f"/relay/v1/devices/{m.device}/batches"
            origin, stranger = m.client("127.0.0.5"), m.client("127.0.0.2")
            assert (await origin.post(url, content=batch_of(m.origin, 0, 3))).status_code == 202
            answer_all(m)

            async def variants(known: range) -> None:
                for k in known:
                    variant = batch_of(m.origin, 0, 3).replace(
                        b'"known_size":0', b'"known_size":%d' % k
                    )
                    assert (await stranger.post(url, content=variant)).status_code == 202
                    answer_all(m)

            await variants(range(1, 11))
            acks = f"/relay/v1/devices/{m.device}/acks"
            crowded = (await origin.get(acks, params={"after": "-1"})).json()
            assert all(a["known_size"] != 0 for a in crowded)  # the origin's own is not in it
            mine = (await origin.get(acks, params={"after": "-1", "known": "0"})).json()
            assert [(a["from_seq"], a["last_seq"], a["known_size"]) for a in mine] == [(0, 3, 0)]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(relay_sql, "MAX_ANSWERED_PER_ORIGIN", 12)
                await variants(range(11, 16))
            assert len(m.rows()) == 12
            bad = await origin.get(acks, params={"after": "-1", "known": "x"})
            assert bad.status_code == 400 and bad.json()["field"] == "known"

    asyncio.run(scenario())
