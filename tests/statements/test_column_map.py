"""The CSV column map: validated once, every error naming its key or the missing column."""

from __future__ import annotations

import json

import pytest
from statement_scenario import FIXTURES

from appliance.statements.csvmap import parse_column_map, parse_csv
from appliance.statements.errors import ColumnMapError

GOOD = (FIXTURES / "night-market.csv-map.toml").read_text(encoding="utf-8")


def test_the_fixture_map_loads() -> None:
    found = parse_column_map(GOOD, "bank.toml")
    assert found.columns.text == ["Histórico", "Descrição"] and found.decimal == ","


def test_json_is_accepted_too() -> None:
    data = {"currency": "EUR", "columns": {"date": "Date", "credit": "Credit"}}
    assert parse_column_map(json.dumps(data), "bank.json").columns.credit == "Credit"


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (('amount = "Valor"', 'amont = "Valor"'), "columns.amont", "unknown key"),
        (('date = "Data"\n', ""), "columns.date", "missing"),
        (('amount = "Valor"', 'amount = "Valor"\ncredit = "C"'), "columns.amount", "exactly one"),
        (('delimiter = ";"', 'delimiter = ";;"'), "delimiter", "one character"),
        (('decimal = ","', 'decimal = "x"'), "decimal", '"." or ","'),
        (('thousands = "."', 'thousands = ","'), "thousands", "other than decimal"),
        (("skip_rows = 2", "skip_rows = -1"), "skip_rows", "negative"),
        (("skip_rows = 2", 'skip_rows = "2"'), "skip_rows", "expected `int`"),
        (('currency = "BRL"', 'currency = "REAL"'), "currency", "unknown currency"),
        (('currency = "BRL"\n', ""), "currency", "columns.currency"),
        (('date_format = "%d/%m/%Y"', 'date_format = "%m/%Y"'), "date_format", "the day"),
        (
            ('delimiter = ";"', 'delimiter = ";"\nencoding = "klingon"'),
            "encoding",
            "unknown encoding",
        ),
    ],
)
def test_errors_name_the_key(change: tuple[str, str], key: str, problem: str) -> None:
    assert change[0] in GOOD
    with pytest.raises(ColumnMapError, match=problem) as caught:
        parse_column_map(GOOD.replace(change[0], change[1], 1), "bank.toml")
    assert caught.value.where == key
    assert str(caught.value).startswith(f"bank.toml: {key}: ")


def test_not_toml_is_named() -> None:
    with pytest.raises(ColumnMapError, match="not valid TOML or JSON"):
        parse_column_map("columns = [", "bank.toml")


def test_a_column_missing_from_the_header_is_named() -> None:
    column_map = parse_column_map(GOOD.replace('id = "Identificador"', 'id = "Id"'), "bank.toml")
    with pytest.raises(
        ColumnMapError, match=r"columns\.id: no column 'Id' in the header"
    ) as caught:
        parse_csv((FIXTURES / "night-market.csv").read_bytes(), "x.csv", column_map)
    assert caught.value.where == "line 3"


def test_a_credit_column_with_thousands_and_a_time_zone() -> None:
    column_map = parse_column_map(
        """
        currency = "EUR"
        thousands = "."
        decimal = ","
        date_format = "%d.%m.%Y %H:%M %z"
        [columns]
        date = "Zeit"
        credit = "Haben"
        text = ["Zweck"]
        """,
        "bank.toml",
    )
    data = (
        'Zeit,Haben,Zweck\n20.11.2026 19:03 +0100,"1.018,50",00E4\n20.11.2026 19:05 +0100,,Miete\n'
    )
    statement = parse_csv(data.encode(), "x.csv", column_map)
    [credit] = statement.credits
    assert credit.amount.minor == 101850 and not credit.day_only
    assert credit.booked.isoformat() == "2026-11-20T18:03:00+00:00"
    assert statement.skipped == 1
