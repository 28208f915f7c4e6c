"""OFX (1.x SGML and 2.x XML) bank statements into credits, read with ofxtools.

Brazilian banks export OFX for Pix accounts, US ones for everything. Mapping (OFX 2.2 spec,
§11.4.3 STMTTRN): every STMTTRN with a positive TRNAMT is a credit; FITID is the bank's
transaction id (unique per account, the spec says), REFNUM a reference, NAME and MEMO the text
where a payer's bank writes the Pix txid or order reference. A DTPOSTED at midnight exactly is
taken as a date (most banks send a date only). CORRECTACTION DELETE takes back the transaction
named by CORRECTFITID (a reversal); other debits are skipped.

ofxtools parses with its own tokenizer (no DTD, no entities) and validates against the spec, so
a malformed file fails with its message, which is passed on naming the file.
"""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ofxtools.models.base import UnknownTagWarning
from ofxtools.Parser import OFXTree
from ofxtools.Types import OFXTypeWarning

from appliance.domain.credits import Credit, number_repeats
from appliance.statements.errors import StatementError
from appliance.statements.source import MAX_BYTES, Statement, midnight, money, read_bounded

# ofxtools raises its own ParseError and OFXHeaderError, and ElementTree's: all SyntaxErrors
_PARSE_ERRORS = (SyntaxError, ValueError, TypeError, LookupError, AttributeError, ArithmeticError)


def parse_ofx(data: bytes, file: str) -> Statement:
    """The credits of an OFX document."""
    tree = OFXTree()
    try:
        with warnings.catch_warnings():
            # ofxtools skips a tag it does not know, with a warning: a skipped STMTTRN would be
            # a lost credit, so an unknown tag refuses the file instead.
            warnings.simplefilter("error", UnknownTagWarning)
            warnings.simplefilter("ignore", OFXTypeWarning)  # e.g. NAME over 32: kept whole
            tree.parse(io.BytesIO(data))
            ofx = tree.convert()
            statements = list(ofx.statements)
    except UnknownTagWarning as exc:
        raise StatementError(file, "", f"not a valid OFX statement: {exc}") from exc
    except _PARSE_ERRORS as exc:
        raise StatementError(file, "", f"not a valid OFX statement: {exc}") from exc
    if not statements:
        raise StatementError(file, "STMTRS", "no bank or card statement in the file")
    credits: list[Credit] = []
    skipped = 0
    for s, statement in enumerate(statements, 1):
        currency = str(statement.curdef)
        for n, tx in enumerate(statement.banktranlist or [], 1):
            credit = _credit(file, f"STMTRS[{s}]/STMTTRN[{n}] (FITID {tx.fitid})", tx, currency)
            if credit is None:
                skipped += 1
            else:
                credits.append(credit)
    return Statement(file, "ofx", tuple(number_repeats(credits)), skipped)


def read_ofx(path: Path, max_bytes: int = MAX_BYTES) -> Statement:
    """Read an OFX file."""
    return parse_ofx(read_bounded(path, max_bytes), str(path))


def _credit(file: str, where: str, tx: Any, currency: str) -> Credit | None:
    amount: Decimal = tx.trnamt
    deleting = tx.correctaction == "DELETE"
    if amount <= 0 and not deleting:
        return None
    if tx.currency is not None:  # a transaction in another currency than the statement's
        currency = str(tx.currency.cursym)
    posted: datetime = tx.dtposted.astimezone(UTC)
    day_only = posted.time() == datetime.min.time()
    text = " ".join(str(t) for t in (tx.name, tx.memo) if t)
    return Credit(
        str(tx.fitid),
        money(file, f"{where}/TRNAMT", str(abs(amount)), currency),
        midnight(posted.date()) if day_only else posted,
        day_only,
        txid=str(tx.correctfitid if deleting else tx.refnum or ""),
        text=text,
        reversal=deleting,
        source=f"{file}: {where}",
    )
