"""Judging what a payment provider reports against the orders that wait for its word.

A provider's API (BCB's API Pix `GET /pix`) lists the credits it received; the node asks while
Pix orders wait and confirms the ones a credit pays. A provider can be wrong, or lie: a credit
of another amount under an order's txid, a txid no order here carries, one end-to-end id for
two different credits, a second credit for an order already paid. None of those confirms
anything; each is a finding for the vendor to look at. Pure: no I/O, no clock reads.

Rules (docs/reconciliation.md "Provider evidence"):
1. Credits are keyed by end-to-end id; the same credit listed twice (pages overlap, a repeated
   poll) is one. One e2eid with two different bodies is `duplicate_e2eid`, and none is used.
2. An e2eid already on the chain as bank evidence is settled: the same order again is nothing
   new; another order is `duplicate_e2eid`.
3. A credit without a txid names no order (payer banks drop the txid of static Pix,
   bacen/pix-api#449, #617): it is left to the statement, which matches by amount and time.
4. A txid of a sale already bank-confirmed (by a statement whose credit id is not the e2eid)
   is nothing new. Any other txid that is no watched order's reference is `unknown_txid`; a watched order's txid with
   another amount is `wrong_amount`; two credits for one order: the earliest pays it, the rest
   are `paid_twice`. An order a credit pays with the right amount is confirmed once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from appliance.domain.credits import normalize
from appliance.domain.money import Money
from appliance.domain.orders import require_aware


@dataclass(frozen=True, slots=True)
class ProviderCredit:
    """One credit as the provider listed it: end-to-end id, txid, amount, time (UTC), payee key."""

    e2eid: str
    txid: str
    amount: Money
    at: datetime
    chave: str = ""  # the payee's Pix key it was paid to ("" when the PSP does not say)

    def __post_init__(self) -> None:
        require_aware(self.at, f"credit {self.e2eid}: at")

    def paid_to(self, key: str) -> bool:
        """False only when the PSP names another payee key than `key` (compared without case)."""
        return not self.chave or not key or self.chave.strip().lower() == key.strip().lower()

    @property
    def key(self) -> str:
        """The credit's stable key on the chain (docs/receipt-format.md): `id:` + e2eid."""
        return "id:" + self.e2eid


@dataclass(frozen=True, slots=True)
class Watched:
    """An order waiting for the bank's word: waiting for payment, or sold but unverified."""

    order_id: str
    reference: str
    amount: Money
    paid: bool


class Finding(StrEnum):
    """Why a listed credit confirmed nothing."""

    WRONG_AMOUNT = "wrong_amount"
    UNKNOWN_TXID = "unknown_txid"
    DUPLICATE_E2EID = "duplicate_e2eid"
    PAID_TWICE = "paid_twice"


@dataclass(frozen=True, slots=True)
class Problem:
    """A credit the node did not take, why, and the order it names (if any)."""

    finding: Finding
    credit: ProviderCredit
    order_id: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to confirm (order, credit) and what to report; both sorted for equal inputs."""

    confirm: tuple[tuple[Watched, ProviderCredit], ...]
    problems: tuple[Problem, ...]


def judge(
    watched: Sequence[Watched],
    credits: Iterable[ProviderCredit],
    settled: Mapping[str, str],
    banked: Collection[str] = (),
) -> Verdict:
    """Decide which watched orders the credits pay; `settled` maps a used e2eid to its order,
    `banked` holds the references of sales already bank-confirmed (by a statement, say)."""
    by_ref = {normalize(w.reference): w for w in watched if w.reference}
    done_refs = {normalize(r) for r in banked}
    problems: list[Problem] = []
    unique = _unique(credits, problems)
    claims: dict[str, list[ProviderCredit]] = defaultdict(list)
    for credit in unique:
        used_by = settled.get(credit.e2eid)
        target = by_ref.get(normalize(credit.txid)) if credit.txid else None
        if used_by is not None:
            if target is not None and target.order_id != used_by:
                problems.append(Problem(Finding.DUPLICATE_E2EID, credit, target.order_id,
                                        f"already the bank evidence of order {used_by}"))  # fmt: skip
            continue
        if not credit.txid or (target is None and normalize(credit.txid) in done_refs):
            continue  # rule 3: for the statement to match; or its sale's evidence is final
        if target is None:
            problems.append(Problem(Finding.UNKNOWN_TXID, credit, None,
                                    "no order waiting for Pix carries this txid"))  # fmt: skip
            continue
        if credit.amount != target.amount:
            problems.append(Problem(Finding.WRONG_AMOUNT, credit, target.order_id,
                                    f"order {target.order_id} is {target.amount}"))  # fmt: skip
            continue
        claims[target.order_id].append(credit)
    confirm = []
    for order_id, paying in claims.items():
        first, *rest = sorted(paying, key=lambda c: (c.at, c.e2eid))
        confirm.append((next(w for w in watched if w.order_id == order_id), first))
        problems.extend(
            Problem(Finding.PAID_TWICE, c, order_id, f"order {order_id} is paid already")
            for c in rest
        )
    return Verdict(
        tuple(sorted(confirm, key=lambda p: p[0].order_id)),
        tuple(sorted(problems, key=lambda p: (p.credit.e2eid, p.finding.value))),
    )


def _unique(credits: Iterable[ProviderCredit], problems: list[Problem]) -> list[ProviderCredit]:
    """Rule 1: one credit per e2eid; an e2eid with two different bodies is dropped, reported
    once (with its first body in a fixed order, so the report does not depend on list order)."""
    bodies: dict[str, set[ProviderCredit]] = defaultdict(set)
    for credit in credits:
        bodies[credit.e2eid].add(credit)
    unique = []
    for _, found in sorted(bodies.items()):
        first = min(found, key=lambda c: (c.txid, c.amount.minor, c.amount.currency, c.at))
        if len(found) == 1:
            unique.append(first)
        else:
            problems.append(Problem(Finding.DUPLICATE_E2EID, first, None,
                                    "one end-to-end id listed with two different credits"))  # fmt: skip
    return unique
