"""Credits as a bank reports them, and what makes two reports one credit.

A statement may be imported twice, two statements may overlap, and a camt.054 notification may
repeat a credit of a camt.053 statement with more (or less) detail. Every credit gets a stable
key — the bank's transaction id where there is one, else a hash of the normalised line — so
these collapse into one; a reversal entry takes back the credit it names. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from appliance.domain.money import Money
from appliance.domain.orders import require_aware

NOT_PROVIDED = "NOTPROVIDED"  # ISO 20022's placeholder for a missing end-to-end id
_SEPARATORS = str.maketrans(dict.fromkeys("/:;,.()[]{}<>'\"+*=#!?|\\\t\r\n", " "))
MIN_TOKEN = 4  # remittance-text words shorter than this are never taken as a reference


@dataclass(frozen=True, slots=True)
class Credit:
    """One incoming payment as a bank reported it.

    `booked` is the booking (or value) time; `day_only` says the bank gave only a date, so
    `booked` is that date's midnight UTC. `reversal` marks an entry that takes back an earlier
    credit. `source` (file and line) is for people and takes no part in identity.
    """

    bank_id: str | None
    amount: Money
    booked: datetime
    day_only: bool = False
    txid: str = ""
    end_to_end_id: str = ""
    creditor_ref: str = ""
    text: str = ""
    reversal: bool = False
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        require_aware(self.booked, f"credit {self.source or self.bank_id}: booked")

    @property
    def key(self) -> str:
        """The stable key that deduplicates re-imported credits (see credit_key)."""
        return credit_key(self)


def normalize(reference: str) -> str:
    """A reference as compared: upper case, no spaces or dashes."""
    return reference.upper().replace(" ", "").replace("-", "")


def credit_key(credit: Credit) -> str:
    """The bank's transaction id where there is one, else a hash of the normalised line."""
    if credit.bank_id:
        return "id:" + credit.bank_id.strip()
    parts = (
        str(credit.amount.minor),
        credit.amount.currency,
        credit.booked.isoformat(),
        normalize(credit.txid),
        normalize(credit.end_to_end_id),
        normalize(credit.creditor_ref),
        " ".join(credit.text.split()).upper(),
        "R" if credit.reversal else "C",
    )
    return "h:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def credit_references(credit: Credit) -> set[str]:
    """Every string in a credit that may be a sale's reference, normalised."""
    refs = {normalize(r) for r in (credit.txid, credit.creditor_ref) if r}
    if credit.end_to_end_id and normalize(credit.end_to_end_id) != NOT_PROVIDED:
        refs.add(normalize(credit.end_to_end_id))
    refs.update(
        w for w in credit.text.upper().translate(_SEPARATORS).split() if len(w) >= MIN_TOKEN
    )
    if credit.text:  # a reference a bank printed with spaces or dashes inside ("RF18 5390 ...")
        refs.add(normalize(credit.text))
    return refs


def sort_key(credit: Credit) -> tuple[str, str]:
    """Credits in a fixed order: by key, then by every field."""
    return credit.key, repr(credit)


def dedupe(credits: Iterable[Credit]) -> tuple[list[Credit], list[Credit]]:
    """Collapse credits with one key into one (merging the details each file gave); return
    (credits, conflicts), conflicts being keys seen with different amounts or directions."""
    groups: dict[str, list[Credit]] = defaultdict(list)
    for credit in credits:
        groups[credit.key].append(credit)
    kept: list[Credit] = []
    conflicts: list[Credit] = []
    for key in sorted(groups):
        group = groups[key] if len(groups[key]) == 1 else sorted(set(groups[key]), key=repr)
        if len({(c.amount, c.reversal) for c in group}) > 1:
            conflicts.extend(group)
            continue
        merged = group[0]
        for other in group[1:]:  # a camt.054 may carry remittance text its camt.053 left out
            merged = replace(
                merged,
                txid=merged.txid or other.txid,
                end_to_end_id=_better_e2e(merged.end_to_end_id, other.end_to_end_id),
                creditor_ref=merged.creditor_ref or other.creditor_ref,
                text=merged.text or other.text,
                day_only=merged.day_only and other.day_only,
                booked=other.booked if merged.day_only and not other.day_only else merged.booked,
            )
        kept.append(merged)
    return kept, conflicts


def _better_e2e(first: str, second: str) -> str:
    if not first or normalize(first) == NOT_PROVIDED:
        return second or first
    return first


def take_back(
    payments: list[Credit], everything: list[Credit]
) -> tuple[list[Credit], list[tuple[Credit, Credit | None]]]:
    """Cancel each reversal against the credit it names (same amount and a shared reference)."""
    reversals = sorted((c for c in everything if c.reversal), key=sort_key)
    if not reversals:
        return payments, []
    remaining = sorted(payments, key=sort_key)
    pairs: list[tuple[Credit, Credit | None]] = []
    for reversal in reversals:
        refs = credit_references(reversal) - {normalize(reversal.text)}
        found = next(
            (
                c
                for c in remaining
                if c.amount == reversal.amount
                and refs & (credit_references(c) | {normalize(c.bank_id or "-")})
            ),
            None,
        )
        if found is not None:
            remaining.remove(found)
        pairs.append((reversal, found))
    return remaining, pairs


def number_repeats(credits: Iterable[Credit]) -> list[Credit]:
    """Keys repeated within ONE file made distinct ("#2", "#3", in file order).

    Two equal lines in one statement are two payments (two coffees at 5.00 on a day a bank
    reports by date only); the same lines in a second import are the same two, keyed the same.
    A bank id listed with two amounts or directions keeps its key on every line: dedupe reports
    them as a conflict, never as payments.
    """
    credits = list(credits)
    bodies: dict[str, set[tuple[Money, bool]]] = defaultdict(set)
    for credit in credits:
        bodies[credit.key].add((credit.amount, credit.reversal))
    seen: dict[str, int] = {}
    numbered = []
    for credit in credits:
        key = credit.key
        if len(bodies[key]) > 1:  # one bank id, two amounts: left alike, dedupe's conflict
            numbered.append(credit)
            continue
        seen[key] = count = seen.get(key, 0) + 1
        numbered.append(credit if count == 1 else replace(credit, bank_id=f"{key}#{count}"))
    return numbered
