"""The daemon's peer bookkeeping (sync/peer_state.py) on a clock the test moves: when it relays,
when it hands a batch again, and when it gives up on a peer that brings no answer.

tests/sync/test_relay_flow.py drives the same through real nodes; these hold each rule's edge.
"""

from __future__ import annotations

import asyncio
import sqlite3

import httpx

from appliance.services.cloud_account import CloudAccount
from sync.daemon import Limits
from sync.peer_state import PeerState
from sync.relay import Peer, PeerLink, Peers

ACCOUNT = CloudAccount("https://cloud", "dev-origin", "token", "cloud/log", "key")
LIMITS = Limits(direct_retry_s=30.0, rehand_s=10.0, peer_patience_s=300.0, shun_peer_s=600.0)
PEER = Peer("Tapioca Stall", "http://peer", "dev-peer")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class OnePeer(Peers):
    """One neighbour with an uplink, unless shunned."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(httpx.AsyncClient(), ACCOUNT, clock=clock)
        self.shunned: dict[str, float] = {}

    async def pick(self) -> Peer | None:
        return None if self.shunned.get(PEER.url, 0.0) > self.clock() else PEER

    def shun(self, url: str, seconds: float = 60.0) -> None:
        self.shunned[url] = self.clock() + seconds


async def _no_pace(size: int) -> None:
    return None


def state(clock: Clock) -> tuple[PeerState, OnePeer]:
    peers = OnePeer(clock)
    link = PeerLink(peers.client, ACCOUNT.device)
    conn = sqlite3.connect(":memory:")
    return PeerState(conn, peers, link, lambda: LIMITS, _no_pace, monotonic=clock), peers


def test_it_relays_only_after_the_cloud_failed_and_for_direct_retry_s() -> None:
    clock = Clock()
    relay, _ = state(clock)

    async def scenario() -> None:
        assert await relay.next_peer() is None  # the cloud has not failed: try it directly
        assert await relay.fall_back() == PEER
        clock.now += 29.9
        assert await relay.next_peer() == PEER
        clock.now += 0.1
        assert await relay.next_peer() is None  # direct_retry_s over: the cloud again
        assert await relay.fall_back() == PEER
        relay.try_direct()  # the cloud answered a heartbeat, or the link changed
        assert await relay.next_peer() is None

    asyncio.run(scenario())


def test_a_batch_is_handed_once_then_again_after_rehand_s() -> None:
    clock = Clock()
    relay, _ = state(clock)
    assert relay.must_hand(PEER.url, "d1")
    relay.handed(PEER.url, "d1")
    clock.now += 9.9
    assert not relay.must_hand(PEER.url, "d1")  # handed: wait for the answer
    assert relay.must_hand(PEER.url, "d2")  # another batch
    assert relay.must_hand("http://other", "d1")  # another peer
    clock.now += 0.1
    assert relay.must_hand(PEER.url, "d1")  # no answer in rehand_s: the peer may have lost it


def test_a_peer_that_brings_no_answer_is_left_alone_after_its_patience() -> None:
    clock = Clock()
    relay, peers = state(clock)
    assert relay.out_of_patience(PEER.url, 5) is None  # the wait starts
    clock.now += 299.0
    assert relay.out_of_patience(PEER.url, 5) is None
    assert relay.out_of_patience(PEER.url, 6) is None  # an answer came: a new wait starts
    clock.now += 299.0
    assert relay.out_of_patience(PEER.url, 6) is None
    relay.handed(PEER.url, "d1")  # handed again a moment ago (well within rehand_s)
    clock.now += 1.0
    assert relay.out_of_patience(PEER.url, 6) == 300.0
    assert relay.must_hand(PEER.url, "d1")  # forgotten: the next peer is handed it afresh
    assert relay.out_of_patience(PEER.url, 6) is None  # and waited on afresh
    relay.blame(PEER)
    assert peers.shunned == {PEER.url: clock.now + LIMITS.shun_peer_s}
