"""The answer of GET /api/passes/peers (api/pass_peers_api.py), apart so the console can read
it without importing the node's store."""

from __future__ import annotations

import msgspec


class PeerOut(msgspec.Struct, frozen=True):
    """A peer box as this box knows it."""

    url: str
    box: str  # its key id ("" until one of its messages verified)
    in_sight: bool
    heard_s_ago: float | None  # None: never heard (or lost)
    acked: int  # the highest of this box's redemptions it acknowledged
    problem: str


class OverOut(msgspec.Struct, frozen=True):
    """A pass redeemed beyond its allowance in a period, found when boxes met."""

    pass_id: str
    period: str
    used: int
    allowance: int
    found_at: str
    reported: bool  # the cloud has it


class PassPeersOut(msgspec.Struct, frozen=True):
    """The sharing of redemptions between the creator's boxes, and what it found."""

    sharing: bool
    boxes: int
    in_sight: bool
    sight_s: float
    peers: list[PeerOut]
    over_redemptions: list[OverOut]
