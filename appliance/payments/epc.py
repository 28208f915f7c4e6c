"""EPC069-12 version 002 ("GiroCode", SEPA credit transfer QR): encode and parse strictly.

Lines (LF): BCD, 002, character set (1 = UTF-8 ... 8 = ISO 8859-15), SCT, BIC (may be empty in
002), name (≤70), IBAN, EUR+amount (optional, 0.01-999999999.99), purpose (4), structured RF
reference (≤35) xor text (≤140), info (≤70). Trailing empty lines may be left out. The whole
payload is at most 331 bytes in its character set; the QR must be error-correction level M.
We write UTF-8 (set 1); the parser reads every set, e.g. segno's ISO 8859-1 example.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.payments.errors import PayloadError
from appliance.payments.ids import iban_problem, rf_valid

MAX_BYTES = 331
CHARSETS = {
    "1": "utf-8", "2": "iso-8859-1", "3": "iso-8859-2", "4": "iso-8859-4", "5": "iso-8859-5",
    "6": "iso-8859-7", "7": "iso-8859-10", "8": "iso-8859-15",
}  # fmt: skip
_AMOUNT = re.compile(r"^EUR(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$")


@dataclass(frozen=True, slots=True)
class Transfer:
    """The fields of one EPC QR."""

    name: str
    iban: str
    bic: str = ""
    amount: str = ""  # "EUR20" or "EUR12.5"; empty lets the payer type it
    purpose: str = ""
    reference: str = ""  # ISO 11649 RF reference
    text: str = ""
    info: str = ""
    charset: str = "1"  # the EPC character set number; "1" is UTF-8


def encode(transfer: Transfer) -> str:
    """The payload text; raise PayloadError naming the field that breaks a rule."""
    t = transfer
    if t.charset not in CHARSETS:
        raise PayloadError(f"character set: {t.charset!r}, 1-8 allowed")
    if t.reference and t.text:
        raise PayloadError("reference and text: use one or the other")
    if t.reference and not rf_valid(t.reference):
        raise PayloadError(f"reference: {t.reference!r} is not a valid RF reference")
    if problem := iban_problem(t.iban):
        raise PayloadError(f"iban: {problem}")
    if t.amount and not _AMOUNT.match(t.amount):
        raise PayloadError(f"amount: {t.amount!r} is not like EUR12.5 (0.01-999999999.99)")
    if t.purpose and not re.fullmatch(r"[A-Z0-9]{4}", t.purpose):
        raise PayloadError(f"purpose: {t.purpose!r} is not a 4-character ISO 20022 code")
    if not t.name:
        raise PayloadError("name: must not be empty")
    for name, value, most in (
        ("name", t.name, 70),
        ("purpose", t.purpose, 4),
        ("text", t.text, 140),
        ("info", t.info, 70),
    ):
        if len(value) > most:
            raise PayloadError(f"{name}: {len(value)} characters, at most {most}")
        if any(c in value for c in "\r\n"):
            raise PayloadError(f"{name}: a line break would shift every later field")
    lines = [
        "BCD",
        "002",
        t.charset,
        "SCT",
        t.bic,
        t.name,
        t.iban,
        t.amount,
        t.purpose,
        t.reference,
        t.text,
        t.info,
    ]
    payload = "\n".join(lines).rstrip("\n")
    try:
        size = len(payload.encode(CHARSETS[t.charset]))
    except UnicodeEncodeError as exc:
        raise PayloadError(
            f"character set {t.charset} ({CHARSETS[t.charset]}) cannot hold {exc.object[exc.start]!r}"
        ) from None
    if size > MAX_BYTES:
        raise PayloadError(f"payload: {size} bytes, at most {MAX_BYTES}")
    return payload


def parse(payload: str) -> Transfer:
    """Parse an EPC QR payload; raise PayloadError for anything off the standard."""
    lines = payload.split("\n")
    if len(lines) < 7 or lines[:2] != ["BCD", "002"] or lines[3] != "SCT":
        raise PayloadError("header: expected BCD / 002 / character set / SCT")
    if lines[2] not in CHARSETS:
        raise PayloadError(f"character set: {lines[2]!r}, 1-8 allowed")
    if len(lines) > 12:
        raise PayloadError(f"payload: {len(lines)} lines, at most 12")
    lines += [""] * (12 - len(lines))
    transfer = Transfer(
        name=lines[5], iban=lines[6], bic=lines[4], amount=lines[7], purpose=lines[8],
        reference=lines[9], text=lines[10], info=lines[11], charset=lines[2],
    )  # fmt: skip
    if encode(transfer) != payload:
        raise PayloadError("payload: not in canonical form (trailing empty lines or spacing)")
    return transfer
