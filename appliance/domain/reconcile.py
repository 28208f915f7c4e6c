"""Matching bank statement credits to sales: the pure half of reconciliation.

A QR sale confirmed by sight is only as good as the payer's screen; the bank statement is the
evidence. This module takes sales and credits (plain records an adapter read from a file or a
provider) and says which credit paid which sale, which sales no credit paid, which credits pay
nothing known, and where the evidence fits more than one way. It never guesses: a tie is
reported as an ambiguity for a person to settle.

Rules (docs/reconciliation.md has the table):
1. Credits are deduplicated by a stable key, so importing a statement twice, or two statements
   that overlap, is the same as importing it once.
2. Exact reference first (as Odoo's "Invoices/Bills Perfect Match" rule and GnuCash's online-id
   match do): a credit whose txid, end-to-end id, creditor reference or remittance-text word is a
   sale's reference, with the same amount and currency, pays that sale, when each points only
   at the other. Same reference, different amount: reported, never matched.
3. Then amount + currency + time window, scored in coarse integer bands (as GnuCash's import
   matcher scores date and amount); a pair is taken when it is the unique best for both sides,
   repeated until nothing changes; whatever is left tied is an ambiguity.
No I/O, no clock reads: times are handed in, aware and UTC.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from appliance.domain.credits import (
    Credit,
    credit_references,
    dedupe,
    normalize,
    sort_key,
    take_back,
)
from appliance.domain.errors import ReconcileError
from appliance.domain.money import Money
from appliance.domain.orders import require_aware

# What the bank said of a QR sale, as an order's page and the console show it (the last
# evidence line's state; none recorded is unverified).
EvidenceState = Literal["unverified", "bank", "unmatched"]


class How(StrEnum):
    """How a credit was matched to its sale."""

    REFERENCE = "reference"
    SCORED = "scored"


@dataclass(frozen=True, slots=True)
class Sale:
    """A sale waiting for bank evidence: its id, references, rail, amount and time (UTC)."""

    id: str
    references: tuple[str, ...]
    rail: str
    amount: Money
    at: datetime

    def __post_init__(self) -> None:
        require_aware(self.at, f"sale {self.id}: at")


@dataclass(frozen=True, slots=True)
class Rules:
    """The matching thresholds and scores; the defaults are documented in docs/reconciliation.md."""

    amount_points: int = 50
    # (largest distance from the sale, points) for a credit with a time of day
    time_bands: tuple[tuple[timedelta, int], ...] = (
        (timedelta(minutes=10), 40),
        (timedelta(hours=1), 35),
        (timedelta(hours=6), 30),
        (timedelta(days=1), 25),
        (timedelta(days=3), 20),
    )
    # (days between the sale's UTC date and a date-only booking, points)
    day_bands: tuple[tuple[int, int], ...] = ((0, 25), (1, 20), (3, 15))
    early: timedelta = timedelta(minutes=10)  # a credit may precede its sale by clock skew only
    threshold: int = 70  # a scored pair below this is not a candidate at all

    def __post_init__(self) -> None:
        if not self.time_bands or not self.day_bands:
            raise ReconcileError("rules need at least one time band and one day band")
        if self.early < timedelta(0):
            raise ReconcileError("rules: early must not be negative")

    @property
    def reach(self) -> timedelta:
        """How far after a sale a credit can still be a candidate."""
        return max(self.time_bands[-1][0], timedelta(days=self.day_bands[-1][0] + 2))


@dataclass(frozen=True, slots=True)
class Match:
    """A credit that paid a sale, how it was found, and its score (100 for a reference)."""

    sale: Sale
    credit: Credit
    how: How
    score: int


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """Sales and credits that fit each other in more than one way: for a person to settle."""

    sales: tuple[Sale, ...]
    credits: tuple[Credit, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything reconcile() found; every tuple is sorted, so equal inputs give equal outcomes.

    Each sale is in exactly one of matched, unmatched_sales and ambiguous; each credit in exactly
    one of matched, unmatched_credits, ambiguous, reversed and conflicts. wrong_amount annotates
    unmatched credits whose reference names a sale of another amount.
    """

    matched: tuple[Match, ...]
    unmatched_sales: tuple[Sale, ...]
    unmatched_credits: tuple[Credit, ...]
    ambiguous: tuple[Ambiguity, ...]
    wrong_amount: tuple[tuple[Credit, Sale], ...]
    reversed: tuple[tuple[Credit, Credit | None], ...]  # (reversal, the credit it took back)
    conflicts: tuple[Credit, ...]  # one key, different amounts: never used, always shown


def time_points(rules: Rules, sale: Sale, credit: Credit) -> int:
    """The time score of a credit against a sale; 0 when outside every band."""
    if credit.day_only:
        days = (credit.booked.date() - sale.at.date()).days
        if days < -1:  # a bank's local date may be one behind the sale's UTC date, no more
            return 0
        return next((p for most, p in rules.day_bands if max(days, 0) <= most), 0)
    delta = credit.booked - sale.at
    if delta < -rules.early:
        return 0
    return next((p for most, p in rules.time_bands if abs(delta) <= most), 0)


def score(rules: Rules, sale: Sale, credit: Credit) -> int:
    """The score of a pair by amount and time (0 unless amount and currency are equal)."""
    if sale.amount != credit.amount:
        return 0
    points = time_points(rules, sale, credit)
    return rules.amount_points + points if points else 0


def reconcile(
    sales: Sequence[Sale], credits: Iterable[Credit], rules: Rules | None = None
) -> Outcome:
    """Match credits to sales: exact reference first, then amount and time; ties are reported."""
    rules = rules or Rules()
    ids = [s.id for s in sales]
    if len(set(ids)) != len(ids):
        raise ReconcileError("sales: every sale id must be unique")
    by_id = {s.id: s for s in sales}
    unique, conflicts = dedupe(credits)
    payments, reversed_pairs = take_back([c for c in unique if not c.reversal], unique)
    state = _State(by_id, {c.key: c for c in payments})
    _by_reference(state)
    _by_score(state, rules)
    return state.outcome(reversed_pairs, conflicts)


class _State:
    """What is still open while matching, and what has been decided."""

    def __init__(self, sales: dict[str, Sale], credits: dict[str, Credit]) -> None:
        self.sales = sales
        self.credits = credits
        self.open_sales = set(sales)
        self.open_credits = set(credits)
        self.matched: list[Match] = []
        self.ambiguous: list[Ambiguity] = []
        self.wrong_amount: list[tuple[Credit, Sale]] = []
        self.named_other: set[str] = set()  # credits whose reference names a sale of another amount

    def take(self, sale_id: str, key: str, how: How, points: int) -> None:
        self.matched.append(Match(self.sales[sale_id], self.credits[key], how, points))
        self.open_sales.discard(sale_id)
        self.open_credits.discard(key)

    def tie(self, edges: dict[str, set[str]], reason: str) -> None:
        """Report every connected group of `edges` (credit key -> sale ids) as one ambiguity."""
        for keys, sale_ids in _components(edges):
            self.ambiguous.append(
                Ambiguity(
                    tuple(self.sales[s] for s in sorted(sale_ids)),
                    tuple(self.credits[k] for k in sorted(keys)),
                    reason,
                )
            )
            self.open_sales -= sale_ids
            self.open_credits -= keys

    def outcome(
        self, reversed_pairs: list[tuple[Credit, Credit | None]], conflicts: list[Credit]
    ) -> Outcome:
        return Outcome(
            matched=tuple(sorted(self.matched, key=lambda m: (m.sale.id, m.credit.key))),
            unmatched_sales=tuple(self.sales[s] for s in sorted(self.open_sales)),
            unmatched_credits=tuple(self.credits[k] for k in sorted(self.open_credits)),
            ambiguous=tuple(
                sorted(self.ambiguous, key=lambda a: (a.sales[0].id, a.credits[0].key))
            ),
            wrong_amount=tuple(sorted(self.wrong_amount, key=lambda p: (p[0].key, p[1].id))),
            reversed=tuple(sorted(reversed_pairs, key=lambda p: p[0].key)),
            conflicts=tuple(sorted(conflicts, key=sort_key)),
        )


def _by_reference(state: _State) -> None:
    """Rule 2: a reference shared by exactly one credit and one sale of the same amount."""
    index: dict[str, set[str]] = defaultdict(set)
    for sale in state.sales.values():
        for ref in sale.references:
            if ref:
                index[normalize(ref)].add(sale.id)
    edges: dict[str, set[str]] = {}
    back: dict[str, set[str]] = defaultdict(set)
    for key in sorted(state.open_credits):
        credit = state.credits[key]
        named: set[str] = set()
        for ref in credit_references(credit):
            named |= index.get(ref, set())
        if not named:
            continue
        same = {s for s in named if state.sales[s].amount == credit.amount}
        if not same:
            state.wrong_amount.extend((credit, state.sales[s]) for s in sorted(named))
            state.named_other.add(key)  # it names its sale: never pay another by amount
            continue
        edges[key] = same
        for sale_id in same:
            back[sale_id].add(key)
    tied: dict[str, set[str]] = {}
    for key, sale_ids in edges.items():
        sale_id = next(iter(sale_ids))
        if len(sale_ids) == 1 and back[sale_id] == {key}:
            state.take(sale_id, key, How.REFERENCE, 100)
        else:
            tied[key] = sale_ids
    state.tie(tied, "one reference fits several credits or sales")


def _by_score(state: _State, rules: Rules) -> None:
    """Rule 3: amount, currency and time; the unique best for both sides, until nothing moves."""
    buckets: dict[Money, list[tuple[datetime, str]]] = defaultdict(list)
    for sale_id in state.open_sales:
        sale = state.sales[sale_id]
        buckets[sale.amount].append((sale.at, sale.id))
    for bucket in buckets.values():
        bucket.sort()
    reach, day_pad = rules.reach, max(rules.early, timedelta(days=2))
    edges: dict[str, dict[str, int]] = {}
    back: dict[str, dict[str, int]] = defaultdict(dict)
    for key in state.open_credits - state.named_other:
        credit = state.credits[key]
        candidates = buckets.get(credit.amount)
        if not candidates:
            continue
        pad = day_pad if credit.day_only else rules.early
        lo = bisect_left(candidates, credit.booked - reach, key=_first)
        hi = bisect_right(candidates, credit.booked + pad, key=_first)
        for _, sale_id in candidates[lo:hi]:
            points = score(rules, state.sales[sale_id], credit)
            if points >= rules.threshold:
                edges.setdefault(key, {})[sale_id] = points
                back[sale_id][key] = points
    moved = True
    while moved:
        moved = False
        for key in sorted(edges):
            if key not in edges:
                continue
            best = _unique_best(edges[key])
            if best is None or _unique_best(back[best]) != key:
                continue
            points = edges[key][best]
            for other in edges.pop(key):
                back[other].pop(key, None)
            for other in back.pop(best):
                edges[other].pop(best, None)
            state.take(best, key, How.SCORED, points)
            moved = True
        for key in [k for k, v in edges.items() if not v]:
            del edges[key]
    state.tie({k: set(v) for k, v in edges.items()}, "same amount, equally close in time")


def _first(pair: tuple[datetime, str]) -> datetime:
    return pair[0]


def _unique_best(scores: dict[str, int]) -> str | None:
    if not scores:
        return None
    top = max(scores.values())
    best = [k for k, v in scores.items() if v == top]
    return best[0] if len(best) == 1 else None


def _components(edges: dict[str, set[str]]) -> list[tuple[set[str], set[str]]]:
    """Connected groups of a bipartite graph given as credit key -> sale ids."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for key, sale_ids in edges.items():
        for sale_id in sale_ids:
            parent[find("c" + key)] = find("s" + sale_id)
        find("c" + key)
    groups: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for node in list(parent):
        keys, sale_ids = groups[find(node)]
        (keys if node[0] == "c" else sale_ids).add(node[1:])
    return sorted(groups.values(), key=lambda g: min(g[0]))
