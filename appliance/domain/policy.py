"""Offline acceptance of payments confirmed by sight.

With no bank callback reaching an offline box, the vendor confirms a payment by looking at the
payer's banking app. That is a risk, bounded here per rail: a per-sale limit and a limit on the
unsettled total accepted this way (the exposure). Every decision carries its reason and is
recorded; these are the "edge decisions" the numbers screen counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from appliance.domain.errors import PolicyError
from appliance.domain.money import Money
from appliance.domain.orders import require_aware

CASH = "cash"


class Verdict(StrEnum):
    """What the policy said."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class Limits:
    """A rail's limits; None means no limit."""

    per_sale: Money | None = None
    exposure: Money | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision with its reason."""

    rail: str
    amount: Money
    verdict: Verdict
    reason: str
    at: datetime
    operator: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        if not self.rail or not self.reason:
            raise PolicyError("a decision names its rail and carries a reason")

    @property
    def accepted(self) -> bool:
        """True for an acceptance or an override."""
        return self.verdict is not Verdict.REFUSE


def decide(rail: str, amount: Money, outstanding: Money, limits: Limits, at: datetime) -> Decision:
    """Accept or refuse a payment of `amount` on `rail` with `outstanding` already at risk."""
    require_aware(at, "at")
    if not rail:
        raise PolicyError("a payment is decided for a named rail")
    if amount.minor < 0 or outstanding.minor < 0:
        raise PolicyError(f"amount {amount} and outstanding {outstanding} cannot be negative")
    if rail == CASH:
        return Decision(rail, amount, Verdict.ACCEPT, "cash in hand", at)
    checked = []
    if limits.per_sale is not None:
        if amount > limits.per_sale:
            reason = f"{amount} is over the {limits.per_sale} per-sale limit for {rail}"
            return Decision(rail, amount, Verdict.REFUSE, reason, at)
        checked.append(f"per-sale {limits.per_sale}")
    if limits.exposure is not None:
        after = outstanding + amount
        if after > limits.exposure:
            reason = (
                f"outstanding {outstanding} + {amount} would pass the {limits.exposure}"
                f" exposure limit for {rail}"
            )
            return Decision(rail, amount, Verdict.REFUSE, reason, at)
        checked.append(f"exposure {after} of {limits.exposure}")
    if not checked:
        return Decision(rail, amount, Verdict.ACCEPT, f"no limits configured for {rail}", at)
    return Decision(rail, amount, Verdict.ACCEPT, f"within {rail} limits: {', '.join(checked)}", at)


def override(refused: Decision, operator: str, reason: str, at: datetime) -> Decision:
    """The operator accepts a refused payment, on the record, with a reason."""
    require_aware(at, "at")
    if refused.verdict is not Verdict.REFUSE:
        raise PolicyError(f"only a refusal can be overridden, this was {refused.verdict}")
    if not operator.strip() or not reason.strip():
        raise PolicyError("an override needs the operator's name and a reason")
    text = f"override by {operator.strip()}: {reason.strip()} (was: {refused.reason})"
    return replace(refused, verdict=Verdict.OVERRIDE, reason=text, at=at, operator=operator.strip())
