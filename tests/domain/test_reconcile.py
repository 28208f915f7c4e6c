"""Matching credits to sales: the rules one by one, then properties over random statements."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.domain.credits import Credit, credit_key, dedupe, number_repeats
from appliance.domain.errors import ReconcileError, TimeZoneError
from appliance.domain.money import Money
from appliance.domain.reconcile import How, Outcome, Rules, Sale, reconcile

T0 = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


def sale(sid: str, minor: int, at: datetime = T0, refs: tuple[str, ...] = ()) -> Sale:
    return Sale(sid, refs or (f"R{sid}",), "pix", Money(minor, "BRL"), at)


def credit(bank_id: str | None, minor: int, at: datetime = T0, **kw: object) -> Credit:
    return Credit(bank_id, Money(minor, "BRL"), at, **kw)  # type: ignore[arg-type]


def sale_ids(outcome: Outcome) -> dict[str, str]:
    """Sale id -> where it ended up."""
    where = {m.sale.id: f"matched:{m.credit.key}:{m.how}" for m in outcome.matched}
    where |= {s.id: "unmatched" for s in outcome.unmatched_sales}
    where |= {s.id: "ambiguous" for a in outcome.ambiguous for s in a.sales}
    return where


def test_exact_reference_wins_over_a_closer_amount_match() -> None:
    sales = [sale("A", 1850, refs=("0014",)), sale("B", 1850, T0 + timedelta(minutes=1))]
    paid = credit("bank-1", 1850, T0 + timedelta(minutes=1), txid="0014")
    outcome = reconcile(sales, [paid])
    assert [(m.sale.id, m.how) for m in outcome.matched] == [("A", How.REFERENCE)]
    assert [s.id for s in outcome.unmatched_sales] == ["B"]


@pytest.mark.parametrize(
    "where",
    [
        {"txid": "00146"},
        {"end_to_end_id": "E0000000020261120180000ABCDEF12"},
        {"creditor_ref": "RF18 5390 0754 7034"},
        {"text": "Pedido 00146 obrigado"},
        {"text": "RF18 5390 0754 7034"},
    ],
)
def test_a_reference_may_sit_in_any_field(where: dict[str, str]) -> None:
    refs = ("00146", "E0000000020261120180000ABCDEF12", "RF18539007547034")
    outcome = reconcile([sale("A", 500, refs=refs)], [credit("b1", 500, T0, **where)])
    assert [m.how for m in outcome.matched] == [How.REFERENCE]


def test_notprovided_end_to_end_id_is_no_reference() -> None:
    sales = [sale("A", 500, refs=("NOTPROVIDED",))]
    outcome = reconcile(sales, [credit("b1", 999, end_to_end_id="NOTPROVIDED")])
    assert not outcome.matched and not outcome.wrong_amount


def test_same_reference_wrong_amount_is_reported_not_matched() -> None:
    sales = [sale("A", 1850, refs=("0014",)), sale("B", 1000)]
    liar = credit("b1", 1000, txid="0014")
    outcome = reconcile(sales, [liar])
    assert not outcome.matched
    assert [(c.bank_id, s.id) for c, s in outcome.wrong_amount] == [("b1", "A")]
    assert [c.bank_id for c in outcome.unmatched_credits] == ["b1"]
    assert {s.id for s in outcome.unmatched_sales} == {"A", "B"}  # never paid B by amount


def test_two_credits_naming_one_sale_are_an_ambiguity() -> None:
    outcome = reconcile(
        [sale("A", 500)], [credit("b1", 500, txid="RA"), credit("b2", 500, txid="RA")]
    )
    assert not outcome.matched
    [tie] = outcome.ambiguous
    assert [s.id for s in tie.sales] == ["A"] and [c.bank_id for c in tie.credits] == ["b1", "b2"]


def test_scored_match_needs_amount_currency_and_time() -> None:
    sales = [sale("A", 500)]
    assert reconcile(sales, [credit("b1", 500, T0 + timedelta(minutes=3))]).matched[0].score == 90
    assert not reconcile(sales, [credit("b1", 501, T0)]).matched
    other = Credit("b1", Money(500, "EUR"), T0)
    assert not reconcile(sales, [other]).matched
    assert not reconcile(sales, [credit("b1", 500, T0 + timedelta(days=4))]).matched
    assert not reconcile(sales, [credit("b1", 500, T0 - timedelta(hours=1))]).matched


def test_day_only_booking_matches_within_its_day_bands() -> None:
    day = datetime(2026, 11, 21, tzinfo=UTC)
    assert reconcile([sale("A", 500)], [credit("b", 500, day, day_only=True)]).matched
    late = datetime(2026, 11, 25, tzinfo=UTC)
    assert not reconcile([sale("A", 500)], [credit("b", 500, late, day_only=True)]).matched


def test_a_tie_is_reported_never_guessed() -> None:
    sales = [sale("A", 500), sale("B", 500, T0 + timedelta(minutes=2))]
    outcome = reconcile(sales, [credit("b1", 500, T0 + timedelta(minutes=3))])
    assert not outcome.matched
    [tie] = outcome.ambiguous
    assert [s.id for s in tie.sales] == ["A", "B"]


def test_the_unique_best_for_both_sides_is_taken_then_the_rest() -> None:
    # b1 is 40 points from A and B; b2 is 40 from B only... b2 takes B, then b1 is A's alone.
    sales = [sale("A", 500), sale("B", 500, T0 + timedelta(hours=2))]
    b1 = credit("b1", 500, T0 + timedelta(minutes=5))  # A: 40 points, B: 30
    b2 = credit("b2", 500, T0 + timedelta(hours=2, minutes=1))  # A: 30, B: 40
    outcome = reconcile(sales, [b1, b2])
    assert sorted((m.sale.id, m.credit.bank_id) for m in outcome.matched) == [
        ("A", "b1"),
        ("B", "b2"),
    ]


def test_reimporting_and_overlapping_statements_change_nothing() -> None:
    sales = [sale("A", 500), sale("B", 700, refs=("X7",))]
    day1 = [credit("b1", 500, T0 + timedelta(minutes=1)), credit(None, 700, txid="X7")]
    day2 = [credit(None, 700, txid="X7"), credit("b3", 900)]
    once = reconcile(sales, day1 + day2)
    assert reconcile(sales, day1 + day2 + day1 + day2) == once
    assert reconcile(sales, day2 + day1) == once


def test_batched_entries_that_share_an_id_are_not_collapsed_by_hash() -> None:
    # OCA bank-statement-import #475: several TxDtls of one entry. The parsers key them
    # entry-id/index; without an id, two equal lines differ by nothing and are one credit.
    a = credit(None, 500, text="batch", txid="T1")
    b = credit(None, 500, text="batch", txid="T2")
    assert credit_key(a) != credit_key(b)
    kept, conflicts = dedupe([a, b, a])
    assert len(kept) == 2 and not conflicts


def test_one_key_with_two_amounts_is_a_conflict_and_never_used() -> None:
    outcome = reconcile([sale("A", 500)], [credit("b1", 500), credit("b1", 600)])
    assert not outcome.matched and len(outcome.conflicts) == 2


def test_one_bank_id_with_two_amounts_in_one_file_is_a_conflict_not_two_payments() -> None:
    # Numbering repeats within a file (two equal lines are two payments) must not turn a bank id
    # listed with two amounts — an edited or broken export — into two credits that pay two sales.
    one_file = number_repeats([credit("b1", 500), credit("b1", 600), credit("b1", 500)])
    outcome = reconcile([sale("A", 500), sale("B", 600)], one_file)
    assert not outcome.matched and len(outcome.conflicts) == 2  # 500 and 600 (the 500s are one)
    assert len(number_repeats([credit("b1", 500), credit("b1", 500)])) == 2  # equal: still two


def test_details_from_a_second_report_of_one_credit_are_merged() -> None:
    bare = credit("b1", 500, T0 + timedelta(days=2))  # no reference: too late to score
    detailed = credit("b1", 500, T0 + timedelta(days=2), txid="RA")
    outcome = reconcile([sale("A", 500)], [bare, detailed])
    assert [m.how for m in outcome.matched] == [How.REFERENCE]


def test_a_reversal_takes_back_the_credit_it_names() -> None:
    paid = credit("b1", 500, end_to_end_id="E2E-1")
    back = credit("b2", 500, T0 + timedelta(hours=1), end_to_end_id="E2E-1", reversal=True)
    outcome = reconcile([sale("A", 500)], [paid, back])
    assert not outcome.matched and [s.id for s in outcome.unmatched_sales] == ["A"]
    assert outcome.reversed == ((back, paid),)


def test_duplicate_sale_ids_are_refused() -> None:
    with pytest.raises(ReconcileError, match="unique"):
        reconcile([sale("A", 1), sale("A", 2)], [])


def test_rules_are_checked() -> None:
    with pytest.raises(ReconcileError, match="early"):
        Rules(early=timedelta(minutes=-1))


# ---- properties ------------------------------------------------------------------------------

AMOUNTS = st.sampled_from([500, 700, 1850])
OFFSETS = st.integers(min_value=-30, max_value=60 * 24 * 4).map(lambda m: timedelta(minutes=m))


@st.composite
def books(draw: st.DrawFn) -> tuple[list[Sale], list[Credit]]:
    """A few sales and credits that collide on amounts, times and references."""
    n = draw(st.integers(0, 8))
    sales = [
        sale(f"S{i}", draw(AMOUNTS), T0 + draw(OFFSETS), refs=(f"R{draw(st.integers(0, 9))}",))
        for i in range(n)
    ]
    credits = []
    for i in range(draw(st.integers(0, 8))):
        credits.append(
            credit(
                draw(st.sampled_from([None, f"b{i}", "b0"])),
                draw(AMOUNTS),
                T0 + draw(OFFSETS),
                day_only=draw(st.booleans()),
                txid=draw(st.sampled_from(["", "R1", "R2", "R3"])),
                text=draw(st.sampled_from(["", "pix R4", "R5 R6"])),
                reversal=draw(st.sampled_from([False, False, False, True])),
            )
        )
    return sales, credits


@settings(max_examples=300, deadline=None)
@given(books(), st.randoms(use_true_random=False))
def test_order_and_reimport_never_change_the_outcome(
    book: tuple[list[Sale], list[Credit]], rnd: random.Random
) -> None:
    sales, credits = book
    outcome = reconcile(sales, credits)
    shuffled_sales, shuffled = sales[:], credits + credits
    rnd.shuffle(shuffled_sales)
    rnd.shuffle(shuffled)
    assert reconcile(shuffled_sales, shuffled) == outcome
    assert reconcile(sales, credits + credits[: len(credits) // 2]) == outcome


@settings(max_examples=300, deadline=None)
@given(books())
def test_every_sale_and_credit_lands_exactly_once(book: tuple[list[Sale], list[Credit]]) -> None:
    sales, credits = book
    outcome = reconcile(sales, credits)
    placed = (
        [m.sale.id for m in outcome.matched]
        + [s.id for s in outcome.unmatched_sales]
        + [s.id for a in outcome.ambiguous for s in a.sales]
    )
    assert sorted(placed) == sorted(s.id for s in sales)
    keys = (
        [m.credit.key for m in outcome.matched]
        + [c.key for c in outcome.unmatched_credits]
        + [c.key for a in outcome.ambiguous for c in a.credits]
        + [c.key for pair in outcome.reversed for c in pair if c is not None]
        + [c.key for c in outcome.conflicts]
    )
    kept, conflicts = dedupe(credits)
    assert sorted(set(keys)) == sorted({c.key for c in kept} | {c.key for c in conflicts})
    matched = [m.credit.key for m in outcome.matched]
    assert len(matched) == len(set(matched)), "a credit paid two sales"
    assert len(outcome.matched) == len({m.sale.id for m in outcome.matched})
    for m in outcome.matched:
        assert m.sale.amount == m.credit.amount


def test_equal_lines_in_one_file_are_two_payments_and_stay_two_on_reimport() -> None:
    coffee = credit(None, 500, T0, day_only=True, text="coffee")
    one_file = number_repeats([coffee, coffee])
    assert len({c.key for c in one_file}) == 2
    sales = [sale("A", 500), sale("B", 500, T0 + timedelta(hours=3))]
    once = reconcile(sales, one_file)
    assert len(once.ambiguous[0].credits) == 2  # two date-only 5.00 credits, two 5.00 sales
    assert reconcile(sales, one_file + number_repeats([coffee, coffee])) == once


def test_times_must_be_aware_utc() -> None:
    with pytest.raises(TimeZoneError, match="sale A: at"):
        sale("A", 1, datetime(2026, 11, 20, 18, 0))
    with pytest.raises(TimeZoneError, match="booked"):
        credit("b", 1, datetime(2026, 11, 20, 18, 0, tzinfo=timezone(timedelta(hours=1))))
