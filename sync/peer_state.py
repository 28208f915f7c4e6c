"""What the sync daemon remembers between steps about relaying its batches through a peer.

When the cloud is out of reach the daemon hands its batch to a neighbour with an uplink and
takes the cloud's answer back from it later (sync/relay.py speaks to the peer). Between one
step and the next it must remember until when it relays rather than trying the cloud itself
(`direct_retry_s`), which batch it handed to which peer and when (to hand it again after
`rehand_s`: the peer may have lost it, replaced by someone else's batch, restored or wiped), and
since when it has waited on a peer for an answer past the same acked_seq (a peer that brings
none in `peer_patience_s` — a fake box on the LAN advertising an uplink, a black hole — is left
alone). That bookkeeping and the relayed exchange are kept here, apart from the daemon's loop
(sync/daemon.py), which decides when to relay and proves a relayed answer exactly as a direct one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec

from appliance.ledger.wire import Batch
from appliance.store import syncstate
from appliance.store.ledger import get_receipt
from sync.backoff import Retry
from sync.relay import Peer, PeerFailed, PeerLink, Peers

log = logging.getLogger(__name__)

_NOT_WAITING = ("", -1, 0.0)


class RelayLimits(Protocol):
    """The daemon's limits read here (sync/daemon.py `Limits`), read again at every use."""

    @property
    def direct_retry_s(self) -> float: ...
    @property
    def shun_peer_s(self) -> float: ...
    @property
    def rehand_s(self) -> float: ...
    @property
    def peer_patience_s(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Relayed:
    """A peer brought the cloud's 200 to a batch of ours: its body, and our last line it covers."""

    body: bytes
    last: syncstate.Pending


def batch_span(body: bytes) -> tuple[int, int]:
    """Return the first and last seq of an encoded batch."""
    batch = msgspec.json.decode(body, type=Batch)
    return batch.from_seq, batch.from_seq + len(batch.receipts) - 1


class PeerState:
    """Whom the daemon relays through, what it handed them, and how long it has waited."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        peers: Peers,
        link: PeerLink,
        limits: Callable[[], RelayLimits],
        pace: Callable[[int], Awaitable[None]],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conn = conn
        self.peers = peers
        self._link = link
        self._limits = limits  # the daemon's current limits
        self._pace = pace  # the daemon's upload cap, shared with direct uploads
        self._monotonic = monotonic
        self._direct_after = 0.0  # monotonic time until which we relay instead of trying direct
        self._handed: tuple[str, str] | None = None  # (peer url, body digest) last handed over
        self._handed_at = 0.0  # monotonic time of that hand: a peer may have lost it since
        self._waiting: tuple[str, int, float] = _NOT_WAITING  # (peer url, acked_seq, since)

    async def next_peer(self) -> Peer | None:
        """The peer to relay through at this step, while relaying (the cloud failed lately)."""
        if self._monotonic() >= self._direct_after:
            return None
        return await self.peers.pick()

    async def fall_back(self) -> Peer | None:
        """The cloud is out of reach: a peer to relay through for `direct_retry_s`, if any."""
        peer = await self.peers.pick()
        if peer is not None:
            self._direct_after = self._monotonic() + self._limits().direct_retry_s
        return peer

    def try_direct(self) -> None:
        """Try the cloud itself at the next step (it answered us, or the link changed)."""
        self._direct_after = 0.0

    def blame(self, peer: Peer) -> None:
        """Leave `peer` alone for `shun_peer_s`: what it passed on failed our checks."""
        self.peers.shun(peer.url, self._limits().shun_peer_s)

    def must_hand(self, peer_url: str, digest: str) -> bool:
        """Whether to hand this batch: not yet handed to this peer, or no answer for `rehand_s`."""
        stale = self._monotonic() - self._handed_at >= self._limits().rehand_s
        return self._handed != (peer_url, digest) or stale

    def handed(self, peer_url: str, digest: str) -> None:
        """Note that the batch with this digest was handed to the peer now."""
        self._handed, self._handed_at = (peer_url, digest), self._monotonic()

    def out_of_patience(self, peer_url: str, acked_seq: int) -> float | None:
        """Seconds waited on this peer past acked_seq once `peer_patience_s` is spent, else None.

        Waiting starts at the first call for a (peer, acked_seq); once out of patience the wait
        and the hand are forgotten, so the next peer (or this one, later) is handed it afresh.
        """
        url, since_seq, since = self._waiting
        now = self._monotonic()
        if (url, since_seq) != (peer_url, acked_seq):
            self._waiting = (peer_url, acked_seq, now)
        elif now - since >= self._limits().peer_patience_s:
            self._handed, self._waiting = None, _NOT_WAITING
            return now - since
        return None

    async def relay(self, peer: Peer, acked_seq: int, body: bytes, size: int) -> Relayed | None:
        """Hand `peer` the batch (once), then take the cloud's answer if it has come.

        None while the answer has not come. Retry when the peer failed, passed on a refusal of
        this batch, or brought no answer in `peer_patience_s`; the peer is shunned in each case.
        """
        via = f"peer {peer.name}"
        digest = hashlib.sha256(body).hexdigest()
        try:
            # Hand it again after a while without an answer: the peer stores the same bytes
            # once, and may have lost them (replaced by someone else's batch, restored, wiped).
            if self.must_hand(peer.url, digest):
                await self._pace(len(body))
                queued = await self._link.hand(peer, body)  # a refused one is queued again
                self.handed(peer.url, digest)
                log.info("handed seqs %d-%d to %s", queued.from_seq, queued.last_seq, via)
            answers = await self._link.answers(peer, acked_seq, size)
        except PeerFailed as exc:
            self.peers.shun(peer.url)
            raise Retry(str(exc)) from None
        span = batch_span(body)
        for answer in answers:
            if answer.from_seq > acked_seq + 1 or answer.known_size != size:
                continue  # built from another state of ours: its proofs cannot be checked now
            last = get_receipt(self.conn, answer.last_seq)
            if answer.status == 200 and last is not None:
                pending = syncstate.Pending(last.seq, last.line, last.items)
                return Relayed(answer.body.encode(), pending)
            if answer.status != 200 and (answer.from_seq, answer.last_seq) == span:
                # A refusal passed on by a peer may be made up (or caused by the peer itself):
                # it never stops our stream, it only makes us leave this peer alone a while.
                self.blame(peer)
                self._handed = None  # next time, hand it again: the peer forwards it again
                raise Retry(f"{via} passed on the cloud's {answer.status}: {answer.body[:200]}")
        # A peer that takes our batches and brings no answer is left alone after a while.
        waited = self.out_of_patience(peer.url, acked_seq)
        if waited is not None:
            self.blame(peer)
            raise Retry(f"peer {peer.name} brought no answer in {waited:.0f} s")
        return None
