"""The offline policy at tender: what to offer a payer, and the decision taken when one is chosen.

A payer must never be invited to pay on a rail the policy would refuse: the refusal would come
after the money moved. So the cart, a drop's page and the console's tender choice offer only the
tenders the policy accepts for that amount at the exposure now, and choosing a tender decides
again and records the decision in the same transaction — a rail chosen anyway (a stale page, a
crafted form) is refused there, before any payment code is shown. An accepted tender's amount
counts as exposure from then on; confirmation stands on that decision (docs/configuration.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from appliance.domain.errors import TenderRefused
from appliance.domain.money import Money
from appliance.domain.policy import Decision, Limits, decide, override
from appliance.store import orders as orders_sql

CASH = "cash"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Refusal:
    """The policy refused a tender: its recorded decision and the tenders still offered."""

    decision: Decision
    offered: tuple[str, ...]

    def error(self) -> TenderRefused:
        """The refusal as the error the API answers with 409 (field `tender`)."""
        return TenderRefused(
            f"tender {self.decision.rail!r} refused: {self.decision.reason};"
            f" offered now: {', '.join(self.offered)}",
            field="tender",
        )


def or_raise(result: T | Refusal) -> T:
    """The transaction's result, or its refusal (already committed) raised as TenderRefused."""
    if isinstance(result, Refusal):
        raise result.error()
    return result


class TenderPolicy:
    """The policy's decisions at tender, inside the caller's transaction."""

    def __init__(
        self,
        limits: Mapping[str, Limits],
        clock: Callable[[], datetime],
        tenders: Callable[[], list[str]],
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.tenders = tenders

    def decide_tx(
        self,
        conn: sqlite3.Connection,
        tender: str,
        amount: Money,
        *,
        order_id: str | None = None,
        operator: str | None = None,
        override_reason: str | None = None,
    ) -> Decision:
        """The policy's decision on `tender` for `amount` at today's exposure (nothing stored).

        The exposure leaves out `order_id`'s own earlier acceptance (a tender chosen again).
        """
        now = self.clock()
        limits = self.limits.get(tender, Limits())
        exposure = Money.zero(amount.currency)
        if limits.exposure is not None and tender != CASH:
            exposure = orders_sql.outstanding(conn, tender, amount.currency, order_id)
        decision = decide(tender, amount, exposure, limits, now)
        if not decision.accepted and override_reason:
            decision = override(decision, operator or "operator", override_reason, now)
        return decision

    def offered_tx(
        self, conn: sqlite3.Connection, amount: Money, order_id: str | None = None
    ) -> list[str]:
        """Tenders the policy would accept for `amount` now: cash always, rails within limits."""
        return [
            tender
            for tender in self.tenders()
            if self.decide_tx(conn, tender, amount, order_id=order_id).accepted
        ]

    def refusal_tx(
        self, conn: sqlite3.Connection, decision: Decision, order_id: str | None
    ) -> Refusal:
        """Record a refusal at tender and list what is still offered for that amount."""
        orders_sql.record_decision(conn, decision, order_id)
        return Refusal(decision, tuple(self.offered_tx(conn, decision.amount, order_id)))

    def accept_tx(
        self, conn: sqlite3.Connection, decision: Decision, order_id: str, *, new: bool = False
    ) -> None:
        """Record an acceptance at tender; the order's earlier one stops counting as exposure.

        `new`: the order was created in this transaction, so it has no earlier one to settle.
        """
        if not new:
            orders_sql.settle_order_decisions(conn, order_id)
        orders_sql.record_decision(conn, decision, order_id)
