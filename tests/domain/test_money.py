"""Money: integer minor units, exact parsing and formatting per ISO 4217 exponent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.errors import MoneyError
from appliance.domain.money import EXPONENTS, Money, exponent

currencies = st.sampled_from(sorted(EXPONENTS))
minor = st.integers(-(10**15), 10**15)


@given(currencies, minor)
def test_decimal_text_round_trips(currency: str, amount: int) -> None:
    money = Money(amount, currency)
    assert Money.parse(money.decimal(), currency) == money


@given(currencies, minor, minor, minor)
def test_addition_is_exact_and_associative(currency: str, a: int, b: int, c: int) -> None:
    x, y, z = Money(a, currency), Money(b, currency), Money(c, currency)
    assert (x + y) + z == x + (y + z) == Money(a + b + c, currency)
    assert x - x == Money.zero(currency)
    assert x + y == y + x
    assert -x + x == Money.zero(currency)


@given(currencies, minor, st.integers(0, 999))
def test_multiplication_is_repeated_addition(currency: str, a: int, n: int) -> None:
    assert Money(a, currency) * n == Money(a * n, currency) == n * Money(a, currency)


@given(st.sampled_from(sorted(EXPONENTS)), st.sampled_from(sorted(EXPONENTS)))
def test_currencies_never_mix(a: str, b: str) -> None:
    if a != b:
        with pytest.raises(MoneyError, match="cannot mix"):
            Money(1, a) + Money(1, b)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("18.50", "BRL", 1850), ("18.5", "BRL", 1850), ("1000", "JPY", 1000), ("1.125", "KWD", 1125),
     ("0.01", "EUR", 1), ("-3.20", "USD", -320), ("7", "INR", 700), ("40.00", "THB", 4000),
     ("2.5", "SGD", 250), ("9.99", "GBP", 999)],
)  # fmt: skip
def test_parse_knows_each_exponent(text: str, currency: str, minor: int) -> None:
    assert Money.parse(text, currency).minor == minor


def test_exponents_of_the_named_currencies() -> None:
    expected = {
        "BRL": 2,
        "INR": 2,
        "EUR": 2,
        "THB": 2,
        "SGD": 2,
        "USD": 2,
        "GBP": 2,
        "JPY": 0,
        "KWD": 3,
    }
    assert {code: exponent(code) for code in expected} == expected
    assert Money(1125, "KWD").decimal() == "1.125"
    assert Money(1000, "JPY").decimal() == "1000"
    assert str(Money(-5, "EUR")) == "-0.05 EUR"


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [("1.5", "JPY", "has 1 decimals, JPY allows 0"), ("1.0001", "KWD", "allows 3"),
     ("1,50", "BRL", "not a decimal amount"), ("", "BRL", "not a decimal amount"),
     ("1e3", "USD", "not a decimal amount"), ("1", "XXX", "unknown currency")],
)  # fmt: skip
def test_bad_amounts_are_refused(text: str, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        Money.parse(text, currency)


@pytest.mark.parametrize("value", [1.5, True, "3", None])
def test_only_integers_are_money(value: object) -> None:
    with pytest.raises(MoneyError):
        Money(value, "BRL")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(1, "BRL") * value  # type: ignore[operator]
