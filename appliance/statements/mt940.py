"""SWIFT MT940 statements into credits, read with the mt-940 package.

Mapping (SWIFT MT940 field specifications, as the mt-940 package documents them): each :61:
statement line is a transaction with its debit/credit mark — C a credit, RD a reversed debit
(money back, not a sale: skipped), RC a reversed credit (a credit taken back: a reversal), D a
debit (skipped); the entry date (booking) is used when given, else the value date, as a date
only; the customer reference (unless NONREF) is a reference, the bank reference after "//" the
bank's id, and the :86: information to the account owner the free text where banks put the
remittance information (and the EPC reference).
"""

from __future__ import annotations

import logging
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import mt940

from appliance.domain.credits import Credit, number_repeats
from appliance.statements.errors import StatementError
from appliance.statements.source import MAX_BYTES, Statement, midnight, money, read_bounded

_PARSE_ERRORS = (ValueError, LookupError, TypeError, RuntimeError, ArithmeticError, AttributeError)
# 6!n[4!n]2a[1!a]15d1!a3!c: date, entry date, mark, funds code, amount, type (N/S/F + 3)
_LINE_61 = re.compile(r":61:\d{6}(?:\d{4})?R?[DC][A-Z]?\d{1,12},\d{0,3}[NSF][A-Z0-9]{3}")
_TAG = re.compile(r"^:(?:20|25|28C?|60[FM]|61|62[FM]):", re.MULTILINE)


def parse_mt940(data: bytes, file: str) -> Statement:
    """The credits of an MT940 file (one or more statements)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # SWIFT's X character set is ASCII; older exports are 8859-1
    if not _TAG.search(text) or (":61:" not in text and ":62F:" not in text):
        raise StatementError(file, "line 1", "not an MT940 statement (no :20:/:61:/:62F: tags)")
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith(":61:") and not _LINE_61.match(line):
            raise StatementError(
                file, f"line {i}", f"not an MT940 :61: statement line: {line[:60]!r}"
            )
    _quiet_library_log()
    try:
        blocks = mt940.parse_statements(text)
    except _PARSE_ERRORS as exc:
        value = exc.args[2] if len(exc.args) > 2 else exc  # mt-940 raises (message, tag, value)
        raise StatementError(file, "", f"not a valid MT940 statement at {value!r}") from exc
    credits: list[Credit] = []
    skipped = 0
    lines = _statement_lines(text)
    n = 0
    for block in blocks:
        for tx in block:
            n += 1
            where = lines[n - 1] if n <= len(lines) else f":61: #{n}"
            credit = _credit(file, where, tx.data)
            if credit is None:
                skipped += 1
            else:
                credits.append(credit)
    return Statement(file, "mt940", tuple(number_repeats(credits)), skipped)


def _quiet_library_log() -> None:
    """mt-940 logs each unparsable tag with its whole regex; with no handler configured, Python
    prints that to stderr. A NullHandler keeps it to the application's own logging setup (the
    same message reaches the user as one StatementError line)."""
    log = logging.getLogger("mt940")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())


def read_mt940(path: Path, max_bytes: int = MAX_BYTES) -> Statement:
    """Read an MT940 file."""
    return parse_mt940(read_bounded(path, max_bytes), str(path))


def _statement_lines(text: str) -> list[str]:
    """ "line N (:61:...)" for each statement line, to name it in errors and sources."""
    return [
        f"line {i} ({line.strip()[:40]})"
        for i, line in enumerate(text.splitlines(), 1)
        if line.startswith(":61:")
    ]


def _credit(file: str, where: str, data: dict[str, Any]) -> Credit | None:
    status = str(data.get("status") or "")
    if status not in ("C", "RC"):
        return None
    amount = data.get("amount")
    value: Decimal | None = getattr(amount, "amount", None)
    currency = getattr(amount, "currency", None) or data.get("currency")
    if value is None or not currency:
        raise StatementError(file, where, "no amount or currency (is :60F: missing?)")
    day: date | None = data.get("entry_date") or data.get("date")
    if day is None:
        raise StatementError(file, where, "no value date")
    customer = str(data.get("customer_reference") or "").strip()
    bank = str(data.get("bank_reference") or "").strip()
    details = " ".join(
        str(data.get(k) or "") for k in ("transaction_details", "extra_details")
    ).strip()
    return Credit(
        bank or None,
        money(file, f"{where} amount", str(abs(value)), str(currency)),
        midnight(day),
        True,
        txid="" if customer.upper() == "NONREF" else customer,
        text=" ".join(details.split()),
        reversal=status == "RC",
        source=f"{file}: {where}",
    )
