"""Every format's fixture reconciles to the evening in statement_scenario.py."""

from __future__ import annotations

import pytest
from statement_scenario import EVENING, FIXTURES, MATCHED, sales, summary

from appliance.domain.reconcile import reconcile
from appliance.statements import Statement, read_statement
from appliance.statements.csvmap import load_column_map


def read(name: str) -> Statement:
    column_map = (
        load_column_map(FIXTURES / "night-market.csv-map.toml") if name.endswith(".csv") else None
    )
    return read_statement(FIXTURES / name, column_map)


@pytest.mark.parametrize(
    ("name", "kind", "currency", "skipped"),
    [
        ("night-market.camt053.xml", "camt.053", "EUR", 2),
        ("night-market.ofx", "ofx", "BRL", 1),
        ("night-market.mt940", "mt940", "EUR", 1),
        ("night-market.csv", "csv", "BRL", 1),
    ],
)
def test_each_format_reconciles_to_the_evening(
    name: str, kind: str, currency: str, skipped: int
) -> None:
    statement = read(name)
    assert (statement.format, statement.skipped) == (kind, skipped)
    outcome = reconcile(sales(currency), statement.credits)
    assert summary(outcome) == EVENING
    again = read(name)  # importing the same file again changes nothing
    assert reconcile(sales(currency), statement.credits + again.credits) == outcome


def test_camt054_adds_its_credits_without_counting_a_repeat_twice() -> None:
    day = read("night-market.camt053.xml").credits
    intraday = read("night-market.camt054.xml")
    assert intraday.format == "camt.054"
    outcome = reconcile(sales("EUR"), day + intraday.credits)
    expected = EVENING | {
        "matched": MATCHED | {"S21": "scored"},
        "unmatched_sales": ["S20", "S22"],
        "reversed": [("3.00", True)],
    }
    assert summary(outcome) == expected
    [s14] = [m for m in outcome.matched if m.sale.id == "S14"]
    assert not s14.credit.day_only  # the notification's booking time merged in
    # importing both again, in the other order, changes nothing
    assert reconcile(sales("EUR"), intraday.credits + day + day) == outcome


def test_the_batched_entry_is_three_credits_with_three_keys() -> None:
    batch = [
        c
        for c in read("night-market.camt053.xml").credits
        if c.bank_id and c.bank_id.startswith("2026112000002")
    ]
    assert sorted(c.amount.minor for c in batch) == [450, 700, 1200]
    assert len({c.key for c in batch}) == 3
    assert [c.end_to_end_id for c in batch].count("NOTPROVIDED") == 2
