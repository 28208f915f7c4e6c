"""What each EMVCo data object may hold: format, length and values, and Pix's own rules on top.

`emv.parse` splits the TLV and checks the CRC; these rules are what makes it strict, so that a
payload a bank app would refuse is refused here too, naming the tag and the rule. Sources:

- EMV QR Code Specification for Payment Systems, Merchant-Presented Mode, v1.1 (EMVCo, November
  2020; text at studylib.net/doc/27190660): §3.2 data object tables (ID, format N / ans / S,
  length, presence), §4.x value rules. Formats: N = digits 0-9; ans = printable ASCII (0x20-0x7E);
  S = any printable Unicode (only in template 64 and the unreserved templates 80-99).
  00 N 02 "01"; 01 N 02 "11" or "12"; 02-51 merchant account information, ≤ 99, at least one;
  26-51 and 80-99 are templates with 00 = Globally Unique Identifier (ans ≤ 32, mandatory);
  52 N 04; 53 N 03 (ISO 4217 numeric); 54 ans ≤ 13, digits with at most one "." as the decimal
  mark, no spaces, not zero (§4.7.x: "98.73", "98" and "98." valid); 55 N 02 "01", "02" or "03",
  56 (ans ≤ 13) present if and only if 55 = "02", 57 (ans ≤ 05, "00.01" to "99.99") if and only if
  55 = "03"; 58 ans 02 (ISO 3166-1 alpha-2); 59 ans ≤ 25; 60 ans ≤ 15; 61 ans ≤ 10;
  62 template: 01-08 ans ≤ 25, 09 ans ≤ 03 (each of "A", "M", "E" at most once), 10-49 RFU,
  50-99 payment system specific templates; 64 template: 00 ans 02 (ISO 639-1), 01 S ≤ 25
  (mandatory), 02 S ≤ 15, 03-99 RFU; 65-79 RFU; 63 last, ans 04.
  The amount, fee and percentage wording ("shall be different from zero", "'98.73', '98' and
  '98.'" valid, "'98,73' and '3 705'" not; "only values between '00.01' and '99.99'") is
  quoted from the specification in chanyut/promptpay (emvco/dataobject, Go) and in a public
  Dart transcription of the §3 tables found by code search.
  Mandatory 52, 59 and 60 are not required here: PromptPay's own published codes leave them out
  (see tests/payments/test_payment_vectors.py), and Thai bank apps accept them.
- Banco Central do Brasil, Manual de Padrões para Iniciação do Pix (Anexo: BR Code), GUI
  `br.gov.bcb.pix` in 26-00, the key in 26-01 or the location URL in 26-25 (exactly one; their
  limit of 77 follows from the template's 99), 53 = 986,
  58 = BR, 62-05 txid mandatory; in a static code (key, no URL) the txid is "***" or 1-25
  letters and digits (also bacen/pix-api issue 269: "QR Code estático (com txid de comprimento
  {1,25})").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from appliance.payments.errors import PayloadError

_N = re.compile(r"[0-9]+")
_ANS = re.compile(r"[\x20-\x7e]+")
_AMOUNT = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")  # one "." at most, digits only, no sign/space
_TXID = re.compile(r"[A-Za-z0-9]{1,25}|\*\*\*")
PIX_GUI = "br.gov.bcb.pix"


@dataclass(frozen=True, slots=True)
class Rule:
    """One data object: its name, format (N, ans or S) and length bounds, and allowed values."""

    name: str
    fmt: str
    least: int
    most: int
    values: frozenset[str] = frozenset()


def _tags(first: int, last: int) -> list[str]:
    return [f"{n:02d}" for n in range(first, last + 1)]


TOP: dict[str, Rule] = {
    "00": Rule("Payload Format Indicator", "N", 2, 2, frozenset({"01"})),
    "01": Rule("Point of Initiation Method", "N", 2, 2, frozenset({"11", "12"})),
    **{t: Rule("Merchant Account Information", "ans", 1, 99) for t in _tags(2, 25)},
    "52": Rule("Merchant Category Code", "N", 4, 4),
    "53": Rule("Transaction Currency", "N", 3, 3),
    "54": Rule("Transaction Amount", "ans", 1, 13),
    "55": Rule("Tip or Convenience Indicator", "N", 2, 2, frozenset({"01", "02", "03"})),
    "56": Rule("Value of Convenience Fee Fixed", "ans", 1, 13),
    "57": Rule("Value of Convenience Fee Percentage", "ans", 1, 5),
    "58": Rule("Country Code", "ans", 2, 2),
    "59": Rule("Merchant Name", "ans", 1, 25),
    "60": Rule("Merchant City", "ans", 1, 15),
    "61": Rule("Postal Code", "ans", 1, 10),
}
ACCOUNT_TEMPLATES = frozenset(_tags(26, 51))
UNRESERVED_TEMPLATES = frozenset(_tags(80, 99))
GUI = Rule("Globally Unique Identifier", "ans", 1, 32)
ADDITIONAL: dict[str, Rule] = {
    "01": Rule("Bill Number", "ans", 1, 25),
    "02": Rule("Mobile Number", "ans", 1, 25),
    "03": Rule("Store Label", "ans", 1, 25),
    "04": Rule("Loyalty Number", "ans", 1, 25),
    "05": Rule("Reference Label", "ans", 1, 25),
    "06": Rule("Customer Label", "ans", 1, 25),
    "07": Rule("Terminal Label", "ans", 1, 25),
    "08": Rule("Purpose of Transaction", "ans", 1, 25),
    "09": Rule("Additional Consumer Data Request", "ans", 1, 3),
}
LANGUAGE: dict[str, Rule] = {
    "00": Rule("Language Preference", "ans", 2, 2),
    "01": Rule("Merchant Name - Alternate Language", "S", 1, 25),
    "02": Rule("Merchant City - Alternate Language", "S", 1, 15),
}


def _fail(where: str, rule: Rule | None, problem: str) -> PayloadError:
    named = f" ({rule.name})" if rule else ""
    return PayloadError(f"tag {where}{named}: {problem}", tag=where)


def check_value(where: str, rule: Rule, value: str) -> None:
    """Check one value against its rule's format, length and allowed values."""
    if not rule.least <= len(value) <= rule.most:
        size = str(rule.most) if rule.least == rule.most else f"{rule.least}-{rule.most}"
        raise _fail(where, rule, f"{len(value)} characters, {size} allowed")
    if rule.fmt == "N" and not _N.fullmatch(value):
        raise _fail(where, rule, f"{value!r} must be digits only (format N)")
    if rule.fmt == "ans" and not _ANS.fullmatch(value):
        raise _fail(where, rule, f"{value!r} must be printable ASCII (format ans)")
    if rule.fmt == "S" and not value.isprintable():
        raise _fail(where, rule, f"{value!r} has a control character (format S)")
    if rule.values and value not in rule.values:
        raise _fail(where, rule, f"{value!r} is not one of {', '.join(sorted(rule.values))}")


def _amount(where: str, value: str, rule: Rule) -> None:
    if not _AMOUNT.fullmatch(value):
        raise _fail(where, rule, f"{value!r}: digits and at most one '.' (like 98.73)")
    if float(value) == 0:
        raise _fail(where, rule, "must not be zero")


def check_template(tag: str, nested: Mapping[str, str]) -> None:
    """Check the sub-fields of template `tag` (26-51, 62, 64 or 80-99)."""
    if tag in ACCOUNT_TEMPLATES or tag in UNRESERVED_TEMPLATES:
        if "00" not in nested:
            raise _fail(f"{tag}.00", GUI, "missing; every template 26-51 and 80-99 starts with it")
        for sub, value in nested.items():
            fmt = "ans" if tag in ACCOUNT_TEMPLATES or sub == "00" else "S"
            specific = GUI if sub == "00" else Rule("payment network specific", fmt, 1, 99)
            check_value(f"{tag}.{sub}", specific, value)
        return
    table = ADDITIONAL if tag == "62" else LANGUAGE
    for sub, value in nested.items():
        rule = table.get(sub)
        if rule is None:
            if tag == "62" and int(sub) >= 50:
                continue  # payment system specific templates, split by emv.parse
            raise _fail(f"{tag}.{sub}", None, "reserved for future use by EMVCo (RFU)")
        check_value(f"{tag}.{sub}", rule, value)
    if tag == "62" and "09" in nested:
        request = nested["09"]
        if set(request) - set("AME") or len(set(request)) != len(request):
            raise _fail("62.09", ADDITIONAL["09"], f"{request!r}: each of A, M, E at most once")
    if tag == "64":
        if not re.fullmatch(r"[A-Za-z]{2}", nested.get("00", "")):
            raise _fail("64.00", LANGUAGE["00"], "mandatory, two letters of ISO 639-1")
        if "01" not in nested:
            raise _fail("64.01", LANGUAGE["01"], "mandatory in template 64")


def check_fields(parsed: Mapping[str, str | Mapping[str, str]]) -> None:
    """Check every top-level data object and the rules that join them; raise PayloadError."""
    for tag, value in parsed.items():
        if isinstance(value, Mapping):
            check_template(tag, value)
            continue
        rule = TOP.get(tag)
        if rule is None:
            raise _fail(tag, None, "reserved for future use by EMVCo (RFU)")
        check_value(tag, rule, value)
        if tag in ("54", "56", "57"):
            _amount(tag, value, rule)
    if not any(tag in parsed for tag in (*_tags(2, 25), *ACCOUNT_TEMPLATES)):
        raise _fail("02-51", None, "at least one merchant account information is mandatory")
    for required in ("53", "58"):
        if required not in parsed:
            raise _fail(required, TOP[required], "missing")
    country = parsed["58"]
    if not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
        raise _fail("58", TOP["58"], f"{country!r} is not an ISO 3166-1 alpha-2 code like BR")
    tip = parsed.get("55")
    for fee, when in (("56", "02"), ("57", "03")):
        if (fee in parsed) != (tip == when):
            raise _fail(fee, TOP[fee], f"present if and only if tag 55 is {when}")
    percent = parsed.get("57")
    if isinstance(percent, str) and not 0.01 <= float(percent) <= 99.99:
        raise _fail("57", TOP["57"], f"{percent!r} is not between 00.01 and 99.99")
    _check_pix(parsed)


def _check_pix(parsed: Mapping[str, str | Mapping[str, str]]) -> None:
    """BR Code rules, when a merchant account template carries the Pix GUI."""
    pix = next(
        (
            (tag, value)
            for tag, value in parsed.items()
            if tag in ACCOUNT_TEMPLATES
            and isinstance(value, Mapping)
            and value.get("00", "").lower() == PIX_GUI
        ),
        None,
    )
    if pix is None:
        return
    tag, account = pix
    if ("01" in account) == ("25" in account):
        raise _fail(tag, None, "Pix: the key (01) or the location URL (25), exactly one")
    if parsed.get("53") != "986":
        raise _fail("53", TOP["53"], "Pix: must be 986 (BRL)")
    if parsed.get("58") != "BR":
        raise _fail("58", TOP["58"], "Pix: must be BR")
    additional = parsed.get("62")
    txid = additional.get("05") if isinstance(additional, Mapping) else None
    if txid is None:
        raise _fail("62.05", ADDITIONAL["05"], "Pix: the txid is mandatory")
    if "01" in account and not _TXID.fullmatch(txid):
        raise _fail("62.05", ADDITIONAL["05"], f"Pix: {txid!r} is not *** or 1-25 letters/digits")
