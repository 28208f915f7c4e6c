"""Bank statement files in, plain credit records out: the I/O half of reconciliation.

Why a package of its own: the matching is a pure function in appliance.domain.reconcile, and
appliance.payments is pure too (QR payloads), while reading a bank's file is I/O with third-party
parsers (defusedxml, ofxtools, mt-940). Provider connectors (API Pix) will sit beside it as
other adapters producing the same Credit records.
"""

from __future__ import annotations

from pathlib import Path

from appliance.statements.camt import parse_camt
from appliance.statements.csvmap import ColumnMap, parse_csv
from appliance.statements.errors import StatementError
from appliance.statements.mt940 import parse_mt940
from appliance.statements.ofx import parse_ofx
from appliance.statements.source import MAX_BYTES, Statement, read_bounded

__all__ = [
    "MAX_BYTES",
    "ColumnMap",
    "Statement",
    "StatementError",
    "parse_statement",
    "read_statement",
    "sniff",
]


def sniff(data: bytes) -> str:
    """The format of a statement by its first bytes: camt, ofx, mt940 or csv (anything else)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"OFXHEADER") or b"<OFX>" in head.upper() or b"<?OFX" in head.upper():
        return "ofx"
    if head.startswith(b"<"):
        return "camt"
    if head.startswith((b":20:", b"{1:", b":940:")) or b"\n:20:" in head or b"\n:61:" in head:
        return "mt940"
    return "csv"


def read_statement(
    path: Path, column_map: ColumnMap | None = None, max_bytes: int = MAX_BYTES
) -> Statement:
    """Read any supported statement file; a CSV needs its column map."""
    return parse_statement(read_bounded(path, max_bytes), str(path), column_map)


def parse_statement(data: bytes, name: str, column_map: ColumnMap | None = None) -> Statement:
    """Parse a statement's bytes (an upload, a file read), named `name` in errors."""
    kind = sniff(data)
    if kind == "camt":
        return parse_camt(data, name)
    if kind == "ofx":
        return parse_ofx(data, name)
    if kind == "mt940":
        return parse_mt940(data, name)
    if column_map is None:
        raise StatementError(
            name, "", "not camt, OFX or MT940; for a CSV export give its column map"
        )
    return parse_csv(data, name, column_map)
