"""Offline acceptance: never above a limit, always a reason, overrides only of refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.errors import MoneyError, PolicyError, TimeZoneError
from appliance.domain.money import EXPONENTS, Money
from appliance.domain.policy import Decision, Limits, Verdict, decide, override

AT = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
amounts = st.integers(0, 10**7).map(lambda m: Money(m, "BRL"))
limits = st.builds(Limits, st.none() | amounts, st.none() | amounts)
rails = st.sampled_from(["pix", "upi", "sepa", "promptpay", "paynow"])


@given(rail=rails, amount=amounts, outstanding=amounts, limits=limits)
def test_never_accepts_above_a_limit(
    rail: str, amount: Money, outstanding: Money, limits: Limits
) -> None:
    decision = decide(rail, amount, outstanding, limits, AT)
    assert decision.reason and rail in decision.reason
    assert (decision.rail, decision.amount, decision.at, decision.operator) == (
        rail,
        amount,
        AT,
        None,
    )
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


@given(amount=amounts, outstanding=amounts, limits=limits)
def test_acceptances_name_the_limits_checked(
    amount: Money, outstanding: Money, limits: Limits
) -> None:
    decision = decide("pix", amount, outstanding, limits, AT)
    if decision.accepted:
        for limit in (limits.per_sale, limits.exposure):
            assert limit is None or str(limit) in decision.reason


@given(amount=amounts, outstanding=amounts, limits=limits)
def test_overrides_are_final(amount: Money, outstanding: Money, limits: Limits) -> None:
    refused = decide("pix", amount, outstanding, limits, AT)
    if not refused.accepted:
        later = AT + timedelta(seconds=30)
        overridden = override(refused, " ana ", "saw the Pix in her app", later)
        assert overridden.reason == (
            f"override by ana: saw the Pix in her app (was: {refused.reason})"
        )
        assert (overridden.at, overridden.amount, overridden.rail) == (later, amount, "pix")
        with pytest.raises(PolicyError, match="only a refusal"):
            override(overridden, "ana", "again", later)


def test_limits_are_inclusive() -> None:
    limits = Limits(per_sale=Money(1000, "BRL"), exposure=Money(10000, "BRL"))
    assert decide("pix", Money(1000, "BRL"), Money(9000, "BRL"), limits, AT).accepted
    assert not decide("pix", Money(1001, "BRL"), Money(0, "BRL"), limits, AT).accepted
    assert not decide("pix", Money(1000, "BRL"), Money(9001, "BRL"), limits, AT).accepted


@pytest.mark.parametrize("currency", sorted(set(EXPONENTS) - {"BRL"}))
def test_limits_in_another_currency_are_an_error_not_a_verdict(currency: str) -> None:
    for limits in (Limits(per_sale=Money(1, currency)), Limits(exposure=Money(1, currency))):
        with pytest.raises(MoneyError, match="cannot mix"):
            decide("pix", Money(10**6, "BRL"), Money(0, "BRL"), limits, AT)
    with pytest.raises(MoneyError, match="cannot mix"):
        decide("pix", Money(1, "BRL"), Money(0, currency), Limits(exposure=Money(9, "BRL")), AT)


def test_negative_amounts_and_unnamed_rails_are_refused() -> None:
    for amount, outstanding in ((-1, 0), (0, -1)):
        with pytest.raises(PolicyError, match="negative"):
            decide("pix", Money(amount, "BRL"), Money(outstanding, "BRL"), Limits(), AT)
    with pytest.raises(PolicyError, match="rail"):
        decide("", Money(1, "BRL"), Money(0, "BRL"), Limits(), AT)
    with pytest.raises(PolicyError, match="reason"):
        Decision("pix", Money(1, "BRL"), Verdict.ACCEPT, "", AT)


@pytest.mark.parametrize(
    "when", [datetime(2026, 1, 1), datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-3)))]
)
def test_times_must_be_aware_utc(when: datetime) -> None:
    with pytest.raises(TimeZoneError):
        decide("pix", Money(1, "BRL"), Money(0, "BRL"), Limits(), when)
    with pytest.raises(TimeZoneError):
        decide("cash", Money(1, "BRL"), Money(0, "BRL"), Limits(), when)
    refused = decide("pix", Money(2, "BRL"), Money(0, "BRL"), Limits(per_sale=Money(1, "BRL")), AT)
    with pytest.raises(TimeZoneError):
        override(refused, "ana", "saw it", when)
    with pytest.raises(TimeZoneError):
        Decision("pix", Money(1, "BRL"), Verdict.ACCEPT, "ok", when)
