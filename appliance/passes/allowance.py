"""Redemption allowances across a creator's boxes: the rule, and what a merge finds.

A pass's allowance ("one free drink per night") is shared by every box of the creator at the
event. While every peer is in sight (heard within the last few seconds over the LAN), a box sees
every peer's redemptions (signed, stored before they count) and refuses the (N+1)th.

Out of sight of any peer, a box may redeem only its share of what was left: with R the
allowance minus the redemptions it knows of (not counting its own out-of-sight ones) and K the
boxes of the creator, at most ceil(R / K) ("ceil", the default) or floor(R / K) ("floor") of its
own out of sight. Every box's R is at most what was truly left when they lost sight of each
other, so the worst case is known before the night starts:

    over-redemption per pass and period <= K - 1 with "ceil", 0 with "floor"

"ceil" lets every box serve a fan offline (a 1-a-night pass over 3 boxes: at most 2 extra);
"floor" never over-redeems, but then a 1-a-night pass works offline nowhere. When boxes meet
again (or at the cloud), `Book.over_redeemed` lists every excess for the vendor and the creator.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Split(StrEnum):
    """How what is left of an allowance is divided among boxes that cannot see each other."""

    CEIL = "ceil"
    FLOOR = "floor"


@dataclass(frozen=True, slots=True)
class Redemption:
    """One use of a pass's allowance, as a box recorded it (and signed, in its ledger)."""

    pass_id: str
    period: str  # the event id, or the stall-local day "2026-12-04"
    box: str  # the redeeming box's key id
    seq: int  # its ledger seq: (box, seq) names a redemption everywhere
    out_of_sight: bool  # redeemed while some peer was out of sight


def offline_quota(remaining: int, boxes: int, split: Split = Split.CEIL) -> int:
    """How many of `remaining` redemptions one of `boxes` boxes may make out of sight."""
    if boxes < 1:
        raise ValueError("a creator has at least one box")
    if remaining <= 0:
        return 0
    return math.ceil(remaining / boxes) if split is Split.CEIL else remaining // boxes


def worst_over_redemption(boxes: int, split: Split = Split.CEIL) -> int:
    """The most one pass's allowance can be over-redeemed in one period, all boxes cut apart."""
    return boxes - 1 if split is Split.CEIL else 0


class Book:
    """What one box knows of a creator's redemptions: a grow-only set, merged from peers."""

    def __init__(self, redemptions: Iterable[Redemption] = ()) -> None:
        self._seen: dict[tuple[str, int], Redemption] = {}
        self._by_pass: dict[tuple[str, str], list[Redemption]] = {}  # (pass, period) -> its own
        self.merge(redemptions)

    def merge(self, redemptions: Iterable[Redemption]) -> int:
        """Add redemptions heard from a peer or the cloud; return how many were new."""
        new = 0
        for item in redemptions:
            if (item.box, item.seq) not in self._seen:
                self._seen[(item.box, item.seq)] = item
                self._by_pass.setdefault((item.pass_id, item.period), []).append(item)
                new += 1
        return new

    def _of(self, pass_id: str, period: str) -> list[Redemption]:
        return self._by_pass.get((pass_id, period), [])

    def may_redeem(
        self,
        pass_id: str,
        period: str,
        allowance: int,
        *,
        box: str,
        boxes: int,
        in_sight: bool,
        split: Split = Split.CEIL,
    ) -> bool:
        """Whether `box` may redeem once more now (see the module's rule)."""
        known = self._of(pass_id, period)
        if len(known) >= allowance:
            return False
        if in_sight:
            return True
        mine_out = sum(1 for r in known if r.box == box and r.out_of_sight)
        return mine_out < offline_quota(allowance - (len(known) - mine_out), boxes, split)

    def over_redeemed(self, allowances: dict[str, int]) -> list[tuple[str, str, int, int]]:
        """Every (pass, period, used, allowance) used beyond its allowance, for the vendor and cloud."""
        counts = Counter((r.pass_id, r.period) for r in self._seen.values())
        return sorted(
            (pass_id, period, used, allowances[pass_id])
            for (pass_id, period), used in counts.items()
            if pass_id in allowances and used > allowances[pass_id]
        )


def units_left(
    allowance: int,
    known: int,
    mine_out: int,
    *,
    in_sight: bool,
    boxes: int,
    split: Split = Split.CEIL,
) -> int:
    """Units a box may still redeem now: `Book.may_redeem`'s rule counted in units.

    `known` is every unit of the pass and period the box knows of (its own and its peers'),
    `mine_out` its own made out of sight (not yet held by every peer).
    """
    left = allowance - known
    if left <= 0 or in_sight:
        return max(0, left)
    quota = offline_quota(allowance - (known - mine_out), boxes, split)
    return max(0, min(left, quota - mine_out))
