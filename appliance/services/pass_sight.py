"""What a box knows of each of its creator's other boxes at an event: in sight, and holding what.

The pass desk's count depends on it: with every other box in sight a box counts everyone's
redemptions against the whole allowance, otherwise only its share (passes/allowance.py), and
its own redemptions count as made in sight only once every other box acknowledged them. These
rules are a few lines each, but they decide how many units a phone may redeem, so they are
kept here apart from the exchange that feeds them (services/pass_peers.py: push, pull and the
peer route), as plain functions of the peers and a monotonic time, which the tests can move.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Peer:
    """A box found on the LAN, as this box knows it."""

    url: str  # the address in use (of `urls`: the next is tried when it fails)
    urls: list[str] = field(default_factory=list)
    box: str = ""  # its key id, once a signed message of it verified
    heard: float = 0.0  # monotonic time of its last fresh, signed answer
    sent: int = 0  # the highest of our own redemptions it acknowledged
    problem: str = ""  # why its last answer did not count


def heard(peer: Peer, sender: str, now: float) -> None:
    """A fresh, signed answer of `sender` came from `peer` at monotonic time `now`."""
    if peer.box and peer.box != sender:
        peer.sent = 0  # another box at that address now: send it everything
    peer.box, peer.heard, peer.problem = sender, now, ""


def lost(peer: Peer, problem: str, *, at_once: bool = False) -> None:
    """An exchange failed: a push puts the peer out of sight `at_once`; a pull lets its
    last answer age out (sight_s), so one slow answer on a busy box changes nothing."""
    if peer.heard and at_once:
        log.info("pass peer %s out of sight: %s", peer.url, problem)
    if at_once:
        peer.heard = 0.0
    peer.problem = problem
    if peer.url in peer.urls and len(peer.urls) > 1:  # another of its addresses next time
        peer.url = peer.urls[(peer.urls.index(peer.url) + 1) % len(peer.urls)]


def seen(peers: Iterable[Peer], sight_s: float, now: float) -> list[Peer]:
    """The peers that answered within `sight_s` of `now`."""
    fresh = now - sight_s
    return [p for p in peers if p.heard >= fresh]


def all_in_sight(peers: Iterable[Peer], boxes: int, sight_s: float, now: float) -> bool:
    """Whether `boxes` - 1 distinct boxes (by key, not address) answered within `sight_s`."""
    heard_boxes = {p.box for p in seen(peers, sight_s, now) if p.box}
    return len(heard_boxes) >= boxes - 1


def acked_by_all(peers: Iterable[Peer], boxes: int) -> int:
    """The highest of our own redemptions every other box acknowledged; 0 if none or too few."""
    best: dict[str, int] = {}  # per box: one box seen at two addresses counts once
    for p in peers:
        if p.box:
            best[p.box] = max(best.get(p.box, 0), p.sent)
    acked = sorted(best.values(), reverse=True)
    need = boxes - 1
    if need < 1 or len(acked) < need:
        return 0
    return acked[need - 1]
