"""Drops: a limited quantity of one item released at a set time, first come by arrival.

A claim holds units for `hold` while the claimant pays; a hold that expires returns its units.
Pure rules over counts passed in: the store keeps the claims and runs each decision inside one
write transaction, so concurrent claims cannot oversell.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.domain.errors import DropError
from appliance.domain.money import Money
from appliance.domain.orders import require_aware

MAX_HOLD = timedelta(hours=2)  # the longest any hold may be; config bounds it further


@dataclass(frozen=True, slots=True)
class Drop:
    """A scheduled release."""

    id: int
    sku: str
    name: str
    price: Money
    quantity: int
    starts_at: datetime
    per_attendee: int
    hold: timedelta

    def __post_init__(self) -> None:
        require_aware(self.starts_at, "starts_at")
        if not 1 <= self.quantity <= 100_000:
            raise DropError(f"quantity must be 1-100000, got {self.quantity}")
        if not 1 <= self.per_attendee <= self.quantity:
            raise DropError(
                f"per-attendee limit must be 1-{self.quantity}, got {self.per_attendee}"
            )
        if not timedelta(seconds=1) <= self.hold <= MAX_HOLD:
            raise DropError(f"hold must be 1 s to 2 h, got {self.hold}")

    def started(self, now: datetime) -> bool:
        """True once the drop is open."""
        require_aware(now, "now")
        return now >= self.starts_at


def check_claim(
    drop: Drop, qty: int, *, now: datetime, taken: int, mine: int, early: timedelta = timedelta(0)
) -> None:
    """Refuse a claim of `qty` units with DropError, given units `taken` and the claimant's own.

    `early`: a pass's early access lets its holder claim that long before the public start.
    """
    if not drop.started(now + early):
        raise DropError(f"the drop opens at {drop.starts_at.isoformat()}")
    if not 1 <= qty <= drop.per_attendee:
        raise DropError(f"claim 1-{drop.per_attendee} units, not {qty}")
    if mine + qty > drop.per_attendee:
        raise DropError(f"at most {drop.per_attendee} per attendee; you hold {mine}")
    left = drop.quantity - taken
    if left <= 0:
        raise DropError("sold out")
    if qty > left:
        raise DropError(f"only {left} left")
