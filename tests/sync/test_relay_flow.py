"""Peer relay in one process: origin daemon → peer node → peer daemon → cloud, and back.

The origin's client has no route to the cloud (a transport that raises ConnectError), only to
the peer's node; the peer's daemon reaches the cloud. Real apps (node and cloud) over
ASGITransport, real SQLite files, the daemon's own step().
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
from relay_support import ADMIN, CloudHarness, make_box, node_app, unreachable

from appliance.ledger.wire import DeviceReport
from appliance.services.cloud_account import CloudAccount
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from appliance.store.migrations import migrate
from sync.backoff import Retry
from sync.daemon import Daemon, Limits, Outcome
from sync.relay import Forwarder, Peers

PEER_URL = "http://peer"
LIMITS = Limits(rush=timedelta(0), heartbeat_s=0)


@dataclass
class World:
    cloud: CloudHarness
    origin: Daemon
    peer: Daemon
    origin_conn: sqlite3.Connection
    peer_conn: sqlite3.Connection
    origin_head: int
    origin_account: CloudAccount


@asynccontextmanager
async def world(tmp_path: Path, origin_sales: int = 30) -> AsyncIterator[World]:
    origin_state, peer_state = tmp_path / "origin", tmp_path / "peer"
    origin_head = make_box(origin_state, origin_sales)
    make_box(peer_state, 3)
    cloud = await CloudHarness.open(tmp_path / "cloud.db")
    origin_account = await cloud.enrol(origin_state, "origin")
    peer_account = await cloud.enrol(peer_state, "peer")
    app = node_app(peer_state, "Tapioca Stall")
    async with app.router.lifespan_context(app):
        cloud.serve_keys(app)
        origin_http = httpx.AsyncClient(
            mounts={
                PEER_URL: httpx.ASGITransport(app=app),
                "all://": httpx.MockTransport(unreachable),
            }
        )
        peer_http = httpx.AsyncClient(mounts={"https://cloud": cloud.transport})

        async def in_process(url: str, pin: str) -> httpx.AsyncClient:
            return origin_http  # in-process, the ASGI transport stands in for the pinned TLS

        origin_conn, peer_conn = open_sync(origin_state / DB_NAME), open_sync(peer_state / DB_NAME)
        migrate(origin_conn)
        try:
            peers = Peers(origin_http, origin_account, urls=[PEER_URL], connect=in_process)
            origin = Daemon(origin_conn, origin_account, origin_http, LIMITS, peers=peers)
            forwarder = Forwarder(peer_conn, peer_account, peer_http)
            peer = Daemon(peer_conn, peer_account, peer_http, LIMITS, forwarder=forwarder)
            yield World(cloud, origin, peer, origin_conn, peer_conn, origin_head, origin_account)
        finally:
            origin_conn.close()
            peer_conn.close()
            await origin_http.aclose()
            await peer_http.aclose()
            await cloud.close()


async def cloud_head(w: World) -> int:
    answer = await w.cloud.http.get(
        f"/v1/devices/{w.origin_account.device}/head",
        headers={"Authorization": f"Bearer {w.origin_account.api_token}"},
    )
    return int(answer.json()["seq"])


async def reports(w: World) -> dict[str, DeviceReport]:
    answer = await w.cloud.http.get("/api/devices", headers={"Authorization": f"Bearer {ADMIN}"})
    return {r.device: r for r in msgspec.json.decode(answer.content, type=list[DeviceReport])}


def test_batches_go_through_the_peer_and_proofs_come_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path) as w:
            # Before the peer's daemon reached the cloud its node says uplink=no: no peer yet.
            with pytest.raises(Retry, match="cannot reach the cloud"):
                await w.origin.step()
            sent = 0
            for _ in range(20):
                if syncstate.read_state(w.origin_conn).acked_seq == w.origin_head:
                    break
                peer_outcome = await w.peer.step()
                try:
                    outcome = await w.origin.step()
                except Retry:
                    continue
                sent += outcome is Outcome.SENT
                assert outcome in (Outcome.SENT, Outcome.WAITING), (outcome, peer_outcome)
            state = syncstate.read_state(w.origin_conn)
            assert state.acked_seq == w.origin_head == await cloud_head(w)
            assert state.via == "peer Tapioca Stall" and state.stopped is None
            assert state.checkpoint is not None and sent >= 1
            # The peer's own receipts went first, and its stream says it talks to the cloud.
            assert syncstate.read_state(w.peer_conn).via == "cloud"

    asyncio.run(scenario())


def test_a_relay_that_alters_a_receipt_is_caught_by_the_cloud(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, origin_sales=5) as w:
            while await w.peer.step() is Outcome.SENT:  # the peer's own receipts: uplink=yes
                pass
            assert await w.origin.step() is Outcome.WAITING  # direct fails: handed to the peer
            # The peer alters the total of a sale in the stored batch before forwarding it.
            body = w.peer_conn.execute("SELECT body FROM relay_batches").fetchone()[0]
            altered = bytes(body).replace(b";950;", b";9500;", 1)
            assert altered != bytes(body)
            w.peer_conn.execute("UPDATE relay_batches SET body = ?", (altered,))
            assert await w.peer.step() is Outcome.SENT  # forwarded: the cloud answered
            status = w.peer_conn.execute("SELECT status FROM relay_batches").fetchone()[0]
            assert status == 409
            with pytest.raises(Retry, match="passed on the cloud's 409"):
                await w.origin.step()
            state = syncstate.read_state(w.origin_conn)
            assert state.stopped is None  # a peer's word never stops our stream
            assert state.acked_seq == -1
            report = (await reports(w))[w.origin_account.device]
            assert report.head.quarantined == 1
            assert report.last_problem is not None and "relayed by" in report.last_problem
            assert await cloud_head(w) < w.origin_head
            # Later (the peer is no longer shunned) the origin hands the batch again; the peer
            # queues it again and, honest this time, forwards it: the proofs check out.
            assert w.origin.peers is not None
            w.origin.peers.clock = lambda: time.monotonic() + 3600
            assert await w.origin.step() is Outcome.WAITING
            assert await w.peer.step() is Outcome.SENT
            assert await w.origin.step() is Outcome.SENT
            state = syncstate.read_state(w.origin_conn)
            assert state.acked_seq == w.origin_head == await cloud_head(w)
            assert state.via == "peer Tapioca Stall"

    asyncio.run(scenario())


def test_a_peer_of_another_cloud_is_not_used(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with world(tmp_path, origin_sales=2) as w:
            while await w.peer.step() is Outcome.SENT:
                pass
            assert w.origin.peers is not None
            w.origin.peers.account = msgspec.structs.replace(
                w.origin_account, origin="stallbox.cloud/elsewhere"
            )
            with pytest.raises(Retry, match="cannot reach the cloud"):
                await w.origin.step()
            assert w.peer_conn.execute("SELECT count(*) FROM relay_batches").fetchone()[0] == 0

    asyncio.run(scenario())


def test_the_origin_hands_its_batch_again_when_the_peer_lost_it(tmp_path: Path) -> None:
    """A waiting batch the peer no longer holds (a stranger's genuine replay replaced it, the
    peer was restored) is handed again after `rehand_s`, not waited on forever."""

    async def scenario() -> None:
        async with world(tmp_path, origin_sales=3) as w:
            while await w.peer.step() is Outcome.SENT:
                pass
            w.origin.limits = Limits(rush=timedelta(0), heartbeat_s=0, rehand_s=0.0)
            assert await w.origin.step() is Outcome.WAITING  # direct fails: handed to the peer
            w.peer_conn.execute("DELETE FROM relay_batches")  # lost before it was forwarded
            assert await w.origin.step() is Outcome.WAITING
            assert w.peer_conn.execute("SELECT count(*) FROM relay_batches").fetchone()[0] == 1
            assert await w.peer.step() is Outcome.SENT
            assert await w.origin.step() is Outcome.SENT
            assert syncstate.read_state(w.origin_conn).acked_seq == w.origin_head

    asyncio.run(scenario())


def test_a_peer_that_never_answers_is_left_alone(tmp_path: Path) -> None:
    """A box that takes batches and brings no answer (a fake one advertising an uplink) is
    shunned after `peer_patience_s`, so the origin tries elsewhere instead of waiting on it."""

    async def scenario() -> None:
        async with world(tmp_path, origin_sales=3) as w:
            while await w.peer.step() is Outcome.SENT:
                pass
            w.origin.limits = Limits(rush=timedelta(0), heartbeat_s=0, peer_patience_s=0.0)
            assert await w.origin.step() is Outcome.WAITING  # handed; the peer never forwards
            with pytest.raises(Retry, match="brought no answer"):
                await w.origin.step()
            assert w.origin.peers is not None and await w.origin.peers.pick() is None

    asyncio.run(scenario())
