"""Money: integer minor units, exact parsing and formatting per ISO 4217 exponent."""

from __future__ import annotations

import operator

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


def test_comparisons_refuse_mixed_currencies() -> None:
    assert Money(1, "BRL") < Money(2, "BRL") <= Money(2, "BRL")
    with pytest.raises(MoneyError, match="cannot mix"):
        assert Money(1, "BRL") < Money(2, "EUR")


@pytest.mark.parametrize("currency", sorted(EXPONENTS))
def test_every_currency_formats_with_its_exponent(currency: str) -> None:
    digits = exponent(currency)
    text = Money(123456, currency).decimal()
    assert text == (
        f"{123456 // 10**digits}.{123456 % 10**digits:0{digits}d}" if digits else "123456"
    )
    assert Money.parse(text, currency) == Money(123456, currency)
    assert Money.parse("1", currency).minor == 10**digits


@given(currencies, minor, st.integers(0, 3))
def test_trailing_zeros_are_padding_not_precision(currency: str, amount: int, drop: int) -> None:
    text = Money(amount * 10**drop, currency).decimal()
    digits = exponent(currency)
    if digits and drop:
        shorter = text[: -min(drop, digits)].rstrip(".")
        assert Money.parse(shorter, currency) == Money(amount * 10**drop, currency)


@given(currencies, st.integers(0, 10**9), st.integers(1, 3), st.integers(1, 9))
def test_too_many_decimals_are_refused(currency: str, whole: int, extra: int, last: int) -> None:
    digits = exponent(currency)
    frac = "0" * (digits + extra - 1) + str(last)
    with pytest.raises(MoneyError, match=f"allows {digits}"):
        Money.parse(f"{whole}.{frac}", currency)
    # trailing zeros do not sneak extra precision past the check either
    with pytest.raises(MoneyError, match=f"allows {digits}"):
        Money.parse(f"{whole}.{'0' * (digits + extra)}", currency)


@given(currencies, minor, minor)
def test_order_follows_minor_units(currency: str, a: int, b: int) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x < y) == (a < b) and (x <= y) == (a <= b)
    assert (x > y) == (a > b) and (x >= y) == (a >= b)
    assert (x == y) == (a == b)


@given(st.sampled_from(sorted(EXPONENTS)), st.sampled_from(sorted(EXPONENTS)), minor, minor)
def test_no_operation_mixes_currencies(a: str, b: str, m: int, n: int) -> None:
    x, y = Money(m, a), Money(n, b)
    operations = [operator.add, operator.sub, operator.lt, operator.le, operator.gt, operator.ge]
    for operation in operations:
        if a == b:
            operation(x, y)
        else:
            with pytest.raises(MoneyError, match="cannot mix"):
                operation(x, y)
    if a != b:
        assert x != y


@pytest.mark.parametrize(
    "text",
    ["\u0661\u0662", "\uff11\uff12", "1.\u0665", " 12 . 50", "+1", "1.", ".5", "--1", "1\n2"],
)
def test_only_ascii_decimal_text_parses(text: str) -> None:
    with pytest.raises(MoneyError, match="not a decimal amount"):
        Money.parse(text, "BRL")


@pytest.mark.parametrize("value", [18.5, 1850, None, True])
def test_parse_takes_text_only(value: object) -> None:
    with pytest.raises(MoneyError):
        Money.parse(value, "BRL")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["brl", "", "XXX", None, 986])
def test_unknown_currencies_are_refused(currency: object) -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        Money(1, currency)  # type: ignore[arg-type]


def test_money_does_not_combine_with_plain_numbers() -> None:
    with pytest.raises(MoneyError):
        Money(1, "BRL") + 1  # type: ignore[operator]
    with pytest.raises(MoneyError):
        assert Money(1, "BRL") < 2  # type: ignore[operator]


def test_kwd_has_three_decimals_and_jpy_none() -> None:
    assert Money.parse("0.001", "KWD") == Money(1, "KWD")
    assert Money.parse("12.5", "KWD").decimal() == "12.500"
    assert Money.parse("500", "JPY") == Money(500, "JPY")
    assert str(Money(500, "JPY")) == "500 JPY"
    with pytest.raises(MoneyError, match="JPY allows 0"):
        Money.parse("500.0", "JPY")


@pytest.mark.parametrize(
    ("text", "currency"),
    [("9" * 5000, "BRL"), ("92233720368547758.08", "BRL"), ("9223372036854775808", "JPY"),
     ("-" + "1" * 20, "EUR")],
)  # fmt: skip
def test_amounts_past_the_ledgers_integers_are_refused_by_name(text: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="too large: at most 9223372036854775807 minor units"):
        Money.parse(text, currency)
    assert Money.parse("0" * 5000 + "92233720368547758.07", "BRL").minor == 2**63 - 1
