"""Offline acceptance: never above a limit, always a reason, overrides only of refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.errors import DomainError, PolicyError
from appliance.domain.money import Money
from appliance.domain.policy import Limits, Verdict, decide, override

AT = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
amounts = st.integers(0, 10**7).map(lambda m: Money(m, "BRL"))
limits = st.builds(Limits, st.none() | amounts, st.none() | amounts)


@given(amount=amounts, outstanding=amounts, limits=limits)
def test_never_accepts_above_a_limit(amount: Money, outstanding: Money, limits: Limits) -> None:
    decision = decide("pix", amount, outstanding, limits, AT)
    assert decision.reason
    over_sale = limits.per_sale is not None and amount > limits.per_sale
    over_exposure = limits.exposure is not None and outstanding + amount > limits.exposure
    assert decision.accepted == (not over_sale and not over_exposure)
    assert decision.verdict in (Verdict.ACCEPT, Verdict.REFUSE)


@given(amount=amounts, limits=limits)
def test_cash_is_always_accepted(amount: Money, limits: Limits) -> None:
    decision = decide("cash", amount, Money(10**9, "BRL"), limits, AT)
    assert decision.verdict is Verdict.ACCEPT and decision.reason == "cash in hand"


def test_reasons_name_the_limit_and_the_rail() -> None:
    limits = Limits(per_sale=Money(1000, "BRL"), exposure=Money(10000, "BRL"))
    sale = decide("pix", Money(1850, "BRL"), Money(0, "BRL"), limits, AT)
    assert sale.reason == "18.50 BRL is over the 10.00 BRL per-sale limit for pix"
    exposed = decide("pix", Money(900, "BRL"), Money(9500, "BRL"), limits, AT)
    assert exposed.reason == (
        "outstanding 95.00 BRL + 9.00 BRL would pass the 100.00 BRL exposure limit for pix"
    )
    free = decide("upi", Money(900, "BRL"), Money(0, "BRL"), Limits(), AT)
    assert free.accepted and free.reason == "no limits configured for upi"


@given(amount=amounts, outstanding=amounts, limits=limits)
def test_only_refusals_can_be_overridden(amount: Money, outstanding: Money, limits: Limits) -> None:
    decision = decide("pix", amount, outstanding, limits, AT)
    if decision.accepted:
        with pytest.raises(PolicyError):
            override(decision, "ana", "looked at the app", AT)
    else:
        overridden = override(decision, "ana", "looked at the app", AT)
        assert overridden.verdict is Verdict.OVERRIDE and overridden.accepted
        assert overridden.operator == "ana"
        assert decision.reason in overridden.reason


def test_an_override_needs_a_name_and_a_reason() -> None:
    refused = decide("pix", Money(2, "BRL"), Money(0, "BRL"), Limits(per_sale=Money(1, "BRL")), AT)
    for operator, reason in (("", "x"), ("ana", " ")):
        with pytest.raises(PolicyError):
            override(refused, operator, reason, AT)


def test_naive_times_are_refused() -> None:
    with pytest.raises(DomainError):
        decide("pix", Money(1, "BRL"), Money(0, "BRL"), Limits(), datetime(2026, 1, 1))
