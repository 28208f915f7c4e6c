"""The relay's two HTTP faces: the cloud's /v1/relay endpoint and the node's /relay/v1 routes."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
from relay_support import ADMIN, CloudHarness, make_box, node_app

from appliance.discovery import Advertiser, NodeAd, browse
from appliance.ledger.receipt import GENESIS_PREV, b64
from appliance.ledger.wire import (
    VERSION,
    Batch,
    BatchAck,
    DeviceReport,
    RelayAnswer,
    RelayInfo,
    RelayQueued,
    WireReceipt,
    encode,
)
from appliance.store import relay as relay_sql
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync

T0 = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def batch_of(state: Path, first: int, last: int, *, alter: int | None = None) -> bytes:
    conn = open_sync(state / DB_NAME)
    try:
        rows = syncstate.pending(conn, first - 1, last - first + 1, 1 << 20)
    finally:
        conn.close()
    wire = [WireReceipt(r.seq, r.line, r.items) for r in rows]
    if alter is not None:
        fields = wire[alter - first].line.split(";")
        fields[8] = str(int(fields[8]) + 1)
        wire[alter - first] = WireReceipt(alter, ";".join(fields), wire[alter - first].items)
    prev = b64(GENESIS_PREV) if first == 0 else rows[0].line.split(";")[10]
    return encode(Batch(VERSION, first, prev, wire, 0))


def test_the_cloud_checks_relayed_batches_against_the_origin(tmp_path: Path) -> None:
    origin, relay, stranger = tmp_path / "origin", tmp_path / "relay", tmp_path / "stranger"
    make_box(origin, 6)
    make_box(relay, 1)
    make_box(stranger, 1)

    async def scenario() -> None:
        cloud = await CloudHarness.open(tmp_path / "cloud.db")
        try:
            o = await cloud.enrol(origin, "origin")
            r = await cloud.enrol(relay, "relay")
            s_key = (await cloud.enrol(stranger, "stranger")).device

            async def post(device: str, token: str, body: bytes) -> httpx.Response:
                return await cloud.http.post(
                    f"/v1/relay/devices/{device}/receipts",
                    content=body,
                    headers={"Authorization": f"Bearer {token}"},
                )

            good = batch_of(origin, 0, 3)
            assert (await post(o.device, "nope", good)).status_code == 401
            assert (
                await cloud.http.post(f"/v1/relay/devices/{o.device}/receipts")
            ).status_code == 401
            unknown = await post("aaaaaaaaaa", r.api_token, good)  # a device id, not enrolled
            assert unknown.status_code == 403 and "not enrolled" in unknown.json()["error"]
            malformed = await post("notenrolled", r.api_token, good)  # cannot be a device id
            assert malformed.status_code == 404 and malformed.json()["error"].startswith("origin:")
            # Another device's receipts under the origin's name: refused line by line.
            wrong = await post(s_key, r.api_token, good)
            assert wrong.status_code == 409 and wrong.json()["reason"] == "format"
            ok = await post(o.device, r.api_token, good)
            assert ok.status_code == 200, ok.text
            ack = msgspec.json.decode(ok.content, type=BatchAck)
            assert ack.head.device == o.device and ack.head.seq == 3
            # The relay alters receipt 5: 409, the valid prefix is kept, the origin quarantined.
            bad = await post(o.device, r.api_token, batch_of(origin, 4, 6, alter=5))
            assert bad.status_code == 409 and bad.json()["seq"] == 5
            assert bad.json()["head"]["seq"] == 4
            listed = await cloud.http.get(
                "/api/devices", headers={"Authorization": f"Bearer {ADMIN}"}
            )
            reports = {
                d.device: d for d in msgspec.json.decode(listed.content, type=list[DeviceReport])
            }
            assert reports[o.device].head.quarantined == 1
            assert f"relayed by {r.device} relay" in (reports[o.device].last_problem or "")
            assert reports[r.device].head.quarantined == 0
            # A revoked relay may relay no more.
            await cloud.store.revoke(r.device)
            assert (await post(o.device, r.api_token, good)).status_code == 403
        finally:
            await cloud.close()

    asyncio.run(scenario())


def test_the_node_stores_batches_durably_and_hands_back_answers(tmp_path: Path) -> None:
    peer, origin = tmp_path / "peer", tmp_path / "origin"
    make_box(peer, 1)
    make_box(origin, 4)
    reader = open_sync(origin / DB_NAME)
    device = reader.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()[0]
    reader.close()
    app = node_app(peer, "Peer Stall")

    async def scenario() -> None:
        cloud = await CloudHarness.open(tmp_path / "cloud.db")
        async with app.router.lifespan_context(app):
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n")
            info = msgspec.json.decode((await http.get("/relay/v1/info")).content, type=RelayInfo)
            assert info.name == "Peer Stall" and info.origin == "" and info.uplink is False
            assert (await cloud.enrol(origin, "origin")).device == device
            await cloud.enrol(peer, "peer")
            cloud.serve_keys(app)
            url = f"/relay/v1/devices/{device}/batches"
            body = batch_of(origin, 0, 2)
            first = await http.post(url, content=body)
            assert first.status_code == 202, first.text
            assert msgspec.json.decode(first.content, type=RelayQueued).queued == 1
            again = await http.post(url, content=body)  # a retry of the same batch: held once
            assert msgspec.json.decode(again.content, type=RelayQueued).queued == 1
            # Receipts that are not the named origin's, in order, are not stored.
            other = await http.post("/relay/v1/devices/someoneelse/batches", content=body)
            assert other.status_code == 422 and "receipts[0]" in other.text
            assert (await http.post(url, content=b"{")).status_code == 400
            huge = await http.post(url, content=b" " * (256 * 1024 + 1))
            assert huge.status_code == 413
            assert (await http.get(f"/relay/v1/devices/{device}/acks?after=x")).status_code == 400
            acks = await http.get(f"/relay/v1/devices/{device}/acks", params={"after": "-1"})
            assert acks.json() == []  # nothing forwarded yet
            # The daemon forwards it and stores the cloud's answer; the origin fetches it.
            conn = open_sync(peer / DB_NAME)
            try:
                queued = relay_sql.next_queued(conn)
                assert queued is not None and queued.body == body and queued.origin == device
                relay_sql.record_answer(conn, queued.id, 200, '{"x":1}', T0)
                assert relay_sql.next_queued(conn) is None
            finally:
                conn.close()
            acks = await http.get(f"/relay/v1/devices/{device}/acks", params={"after": "-1"})
            answers = msgspec.json.decode(acks.content, type=list[RelayAnswer])
            assert answers == [RelayAnswer(0, 2, 0, 200, '{"x":1}')]
            later = await http.get(f"/relay/v1/devices/{device}/acks", params={"after": "2"})
            assert later.json() == []
            # A batch past the answered one supersedes it; a full queue says when to come back.
            await http.post(url, content=batch_of(origin, 3, 4))
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(relay_sql, "MAX_QUEUED_PER_ORIGIN", 1)
                full = await http.post(url, content=batch_of(origin, 4, 4))
            assert full.status_code == 507 and full.headers["retry-after"] == "30"
            assert full.json()["field"] == "relay.max_batches_per_origin"
            await http.aclose()
        await cloud.close()
        conn = open_sync(peer / DB_NAME)
        try:
            rows = conn.execute("SELECT from_seq, last_seq FROM relay_batches").fetchall()
        finally:
            conn.close()
        assert rows == [(3, 4)]

    asyncio.run(scenario())


def test_uplink_means_a_recent_direct_contact_and_no_stop() -> None:
    fresh = timedelta(seconds=60)
    now = T0 + timedelta(seconds=30)
    state = syncstate.SyncState(3, None, 0, 3, T0.isoformat(), None, None, "cloud")
    assert relay_sql.has_uplink(state, now, fresh)
    assert not relay_sql.has_uplink(state, T0 + timedelta(seconds=61), fresh)
    assert not relay_sql.has_uplink(dataclasses.replace(state, via="peer A"), now, fresh)
    assert not relay_sql.has_uplink(dataclasses.replace(state, stopped="409"), now, fresh)
    assert not relay_sql.has_uplink(dataclasses.replace(state, last_contact=None), now, fresh)


def test_the_txt_follows_the_uplink() -> None:
    async def scenario() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        name = f"relay-txt-{port}"
        ad = Advertiser(NodeAd(name, f"id{port}", port, "fp"), "loopback")
        await ad.start()
        try:
            mine = [n for n in await browse("loopback", 1.5) if n.node_id == f"id{port}"]
            assert [n.uplink for n in mine] == [False]
            await ad.set_uplink(True)
            for _ in range(5):
                mine = [n for n in await browse("loopback", 1.5) if n.node_id == f"id{port}"]
                if [n.uplink for n in mine] == [True]:
                    break
            assert [n.uplink for n in mine] == [True]
        finally:
            await ad.close()

    asyncio.run(scenario())
