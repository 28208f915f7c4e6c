"""CSV statements, for banks that export nothing else, read through a saved column map.

A column map is a small TOML (or JSON) file the vendor writes once per bank: which header holds
the date, the amount, the references; the delimiter, the decimal mark and the date format. It
is validated when loaded (unknown keys refused, every error naming the key) and checked against
each file's header (an error names the missing column). docs/reconciliation.md documents it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from appliance.domain.credits import Credit, number_repeats
from appliance.domain.errors import MoneyError
from appliance.domain.money import exponent
from appliance.errors import field_and_problem
from appliance.statements.errors import ColumnMapError, StatementError
from appliance.statements.source import MAX_BYTES, Statement, midnight, money, read_bounded

MAP_MAX_BYTES = 64 * 1024


class Columns(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Header names of the columns that matter; all but date and an amount are optional."""

    date: str
    amount: str | None = None  # signed: credits positive, debits negative (skipped)
    credit: str | None = None  # or: a column that holds credits only (banks that split them)
    id: str | None = None  # the bank's transaction id
    txid: str | None = None
    end_to_end_id: str | None = None
    creditor_ref: str | None = None
    text: list[str] = []  # free-text columns, joined with spaces
    currency: str | None = None


class ColumnMap(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """How to read one bank's CSV export."""

    columns: Columns
    delimiter: str = ","
    encoding: str = "utf-8"
    skip_rows: int = 0  # lines before the header
    decimal: str = "."
    thousands: str = ""
    date_format: str = "%Y-%m-%d"  # strptime; with %z the time counts, else the date only
    currency: str | None = None  # when no column holds it


def parse_column_map(text: str, file: str) -> ColumnMap:
    """A column map from TOML or JSON text, validated; errors name the key."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ColumnMapError(file, "", f"not valid TOML or JSON: {exc}") from None
    try:
        found = msgspec.convert(data, type=ColumnMap)
    except msgspec.ValidationError as exc:
        raise ColumnMapError(file, *field_and_problem(str(exc))) from None
    _check(found, file)
    return found


def load_column_map(path: Path) -> ColumnMap:
    """Read and validate the column map at `path`."""
    data = read_bounded(path, MAP_MAX_BYTES)
    try:
        return parse_column_map(data.decode("utf-8"), str(path))
    except UnicodeDecodeError:
        raise ColumnMapError(str(path), "", "not UTF-8 text") from None


def _check(m: ColumnMap, file: str) -> None:
    def bad(key: str, problem: str) -> ColumnMapError:
        return ColumnMapError(file, key, problem)

    if (m.columns.amount is None) == (m.columns.credit is None):
        raise bad("columns.amount", "give exactly one of columns.amount and columns.credit")
    if len(m.delimiter) != 1:
        raise bad("delimiter", f"one character expected, got {m.delimiter!r}")
    if m.decimal not in (".", ","):
        raise bad("decimal", f'"." or "," expected, got {m.decimal!r}')
    if m.thousands not in ("", ".", ",", " ", "'") or m.thousands == m.decimal:
        raise bad(
            "thousands", f"one of '', '.', ',', ' ', \"'\" other than decimal, got {m.thousands!r}"
        )
    if m.skip_rows < 0:
        raise bad("skip_rows", "must not be negative")
    try:
        codecs.lookup(m.encoding)
    except LookupError:
        raise bad("encoding", f"unknown encoding {m.encoding!r}") from None
    if m.currency is None and m.columns.currency is None:
        raise bad("currency", "give currency, or columns.currency")
    if m.currency is not None:
        try:
            exponent(m.currency)
        except MoneyError as exc:
            raise bad("currency", str(exc)) from None
    if "%d" not in m.date_format and "%j" not in m.date_format:
        raise bad("date_format", f"a strptime format with the day (%d), got {m.date_format!r}")


@dataclass(frozen=True, slots=True)
class _Places:
    """Where each mapped column sits in this file's header."""

    names: dict[str, int]

    def get(self, row: list[str], name: str | None) -> str:
        return row[self.names[name]].strip() if name is not None else ""


def parse_csv(data: bytes, file: str, column_map: ColumnMap) -> Statement:
    """The credits of a CSV export read through `column_map`."""
    try:
        text = data.decode(column_map.encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise StatementError(file, "", f"not {column_map.encoding} text: {exc.reason}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=column_map.delimiter, strict=True)
    try:
        for _ in range(column_map.skip_rows):
            next(reader, None)
        header = next(reader, None)
        if header is None:
            raise StatementError(file, f"line {column_map.skip_rows + 1}", "no header row")
        places = _header(file, reader.line_num, [h.strip() for h in header], column_map.columns)
        credits: list[Credit] = []
        skipped = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            where = f"line {reader.line_num}"
            if len(row) < len(header):
                raise StatementError(
                    file, where, f"{len(row)} columns, the header has {len(header)}"
                )
            credit = _row(file, where, row, places, column_map)
            if credit is None:
                skipped += 1
            else:
                credits.append(credit)
    except csv.Error as exc:
        raise StatementError(file, f"line {reader.line_num}", f"not CSV: {exc}") from None
    return Statement(file, "csv", tuple(number_repeats(credits)), skipped)


def read_csv(path: Path, column_map: ColumnMap, max_bytes: int = MAX_BYTES) -> Statement:
    """Read a CSV export with its column map."""
    return parse_csv(read_bounded(path, max_bytes), str(path), column_map)


def _header(file: str, line: int, header: list[str], columns: Columns) -> _Places:
    wanted = {
        f"columns.{key}": name
        for key in (
            "date",
            "amount",
            "credit",
            "id",
            "txid",
            "end_to_end_id",
            "creditor_ref",
            "currency",
        )
        if (name := getattr(columns, key)) is not None
    }
    wanted |= {f"columns.text[{i}]": name for i, name in enumerate(columns.text)}
    for key, name in wanted.items():
        if name not in header:
            raise ColumnMapError(
                file, f"line {line}", f"{key}: no column {name!r} in the header {header}"
            )
    return _Places({name: header.index(name) for name in wanted.values()})


def _row(file: str, where: str, row: list[str], at: _Places, m: ColumnMap) -> Credit | None:
    cols = m.columns
    raw = at.get(row, cols.amount if cols.amount is not None else cols.credit)
    if not raw:
        return None  # a debit row, in a file with a credit column
    number = raw.replace(" ", "").replace(m.thousands, "") if m.thousands else raw.replace(" ", "")
    number = number.replace(m.decimal, ".").lstrip("+")
    currency = at.get(row, cols.currency) or m.currency or ""
    if number.startswith("-"):
        return None  # a debit
    amount = money(file, f"{where}, column {raw!r}", number, currency)
    if amount.minor == 0:
        return None
    text = at.get(row, cols.date)
    try:
        moment = datetime.strptime(text, m.date_format)
    except ValueError:
        raise StatementError(
            file, f"{where}, column {cols.date!r}", f"{text!r} is not {m.date_format}"
        ) from None
    day_only = moment.tzinfo is None
    return Credit(
        at.get(row, cols.id) or None,
        amount,
        midnight(moment.date()) if day_only else moment.astimezone(UTC),
        day_only,
        txid=at.get(row, cols.txid),
        end_to_end_id=at.get(row, cols.end_to_end_id),
        creditor_ref=at.get(row, cols.creditor_ref),
        text=" ".join(at.get(row, c) for c in cols.text if at.get(row, c)),
        source=f"{file}: {where}",
    )
