"""Order references: unique, speakable, self-checking, and valid in every rail's reference field."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.payments.ids import rf_reference, rf_valid
from appliance.payments.reference import (
    ALPHABET,
    drop_reference,
    normalize_reference,
    order_reference,
    prefix_problem,
    reference_is_valid,
)


def test_known_references() -> None:
    # By hand: "ZZZ" has Luhn mod 32 sum 31 + 31 + 31 = 93 = 29 (mod 32), check 32 - 29 = 3.
    assert [order_reference(n) for n in (1, 2, 1000, 32767, 32768)] == [
        "001Y", "002W", "0Z8H", "ZZZ3", "1000Z",
    ]  # fmt: skip


def test_the_first_hundred_thousand_orders_get_distinct_short_references() -> None:
    references = [order_reference(n) for n in range(1, 100_001)]
    assert len(set(references)) == len(references)
    assert max(len(r) for r in references) == 5
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4,5}", r) for r in references)  # no I L O U


@given(st.integers(1, 32**7 - 1))
def test_every_reference_fits_every_rail(number: int) -> None:
    reference = order_reference(number)
    assert reference.isascii() and reference.isalnum() and len(reference) <= 8
    assert len(reference) <= 25  # Pix txid (62-05), EMV 62-05 and PayNow 62-01
    assert len(reference) <= 35  # UPI tr
    assert rf_valid(rf_reference(reference))  # EPC structured: ISO 11649, body <= 21
    assert reference_is_valid(reference)


@given(st.integers(1, 10**9), st.data())
def test_a_single_misread_symbol_is_caught(number: int, data: st.DataObject) -> None:
    reference = order_reference(number)
    at = data.draw(st.integers(0, len(reference) - 1))
    wrong = data.draw(st.sampled_from([c for c in ALPHABET if c != reference[at]]))
    assert not reference_is_valid(reference[:at] + wrong + reference[at + 1 :])


def test_swapped_neighbours_are_caught_except_luhns_known_blind_spot() -> None:
    missed = []
    for number in range(1, 40_000):
        reference = order_reference(number)
        for at in range(len(reference) - 1):
            a, b = reference[at], reference[at + 1]
            if a != b and reference_is_valid(reference[:at] + b + a + reference[at + 2 :]):
                missed.append(a + b)
    assert set(missed) <= {"0Z", "Z0"}  # Luhn mod N cannot see 0 <-> N-1 swapped


def test_a_vendor_may_type_it_loosely() -> None:
    assert normalize_reference("0z8h") == "0Z8H"
    assert reference_is_valid("oz8h") and reference_is_valid("0Z-8H")
    assert (
        reference_is_valid("1000z") and reference_is_valid("L000Z") and reference_is_valid("I000Z")
    )
    assert not reference_is_valid("0Z8") and not reference_is_valid("0Z8U")


def test_drop_references_never_look_like_order_references() -> None:
    drops = {drop_reference(d, p) for d in range(1, 30) for p in range(1, 300)}
    assert len(drops) == 29 * 299
    assert all(len(r) >= 7 and r.startswith("DR") and reference_is_valid(r) for r in drops)
    assert not drops & {order_reference(n) for n in range(1, 200_000)}


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_order_numbers_start_at_one(bad: object) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        order_reference(bad)  # type: ignore[arg-type]


@given(st.integers(1, 32**6 - 1), st.sampled_from(["A", "B", "Z9", "1"]))
def test_a_boxs_prefix_makes_its_references_its_own(number: int, prefix: str) -> None:
    # Two boxes on one payment account: order N of one must not be order N of the other.
    reference = order_reference(number, prefix)
    assert reference.startswith(prefix) and reference != order_reference(number)
    assert reference_is_valid(reference) and len(reference) <= 10  # the check covers the prefix
    assert rf_valid(rf_reference(reference))
    assert drop_reference(1, number, prefix).startswith(prefix + "DR")


@pytest.mark.parametrize("prefix", ["a", "ABC", "I", "D", "DR", " A"])
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    assert prefix_problem(prefix) is not None
    with pytest.raises(ValueError, match=r"Crockford|must not start"):
        order_reference(1, prefix)
