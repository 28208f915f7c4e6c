"""EMVCo QR Code Specification for Payment Systems, Merchant-Presented Mode: TLV and CRC.

The parser is strict so that what it accepts a bank app accepts: after the CRC and the TLV split,
`emv_rules` checks every data object's format, length and values (and Pix's own rules), and the
encoder parses what it made before handing it out.

A payload is a sequence of ID (2 digits), length (2 digits), value. `00` comes first, `63` last;
the CRC is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over every byte up to and including
"6304", written as 4 uppercase hex digits. Templates 26-51 (merchant accounts), 62 (additional
data), 64 (language template) and 80-99 (unreserved) nest the same TLV inside. Lengths count
characters; values we write are printable ASCII so characters and bytes agree.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping, Sequence

from appliance.payments.emv_rules import check_fields
from appliance.payments.errors import PayloadError

TEMPLATES = frozenset(
    {*(f"{n:02d}" for n in range(26, 52)), "62", "64", *(f"{n:02d}" for n in range(80, 100))}
)

Field = tuple[str, "str | Sequence[Field]"]

# ISO 4217 numeric codes for tag 53, for every currency appliance.domain.money knows.
CURRENCY_CODES = {
    "AUD": "036", "BHD": "048", "BRL": "986", "CAD": "124", "CHF": "756", "CLP": "152",
    "CNY": "156", "CZK": "203", "DKK": "208", "EUR": "978", "GBP": "826", "HKD": "344",
    "HUF": "348", "IDR": "360", "INR": "356", "ISK": "352", "JOD": "400", "JPY": "392",
    "KRW": "410", "KWD": "414", "MXN": "484", "MYR": "458", "NOK": "578", "NZD": "554",
    "OMR": "512", "PHP": "608", "PLN": "985", "SEK": "752", "SGD": "702", "THB": "764",
    "TND": "788", "TWD": "901", "USD": "840", "VND": "704", "ZAR": "710",
}  # fmt: skip


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE of the UTF-8 bytes, as 4 uppercase hex digits."""
    return format(binascii.crc_hqx(data.encode("utf-8"), 0xFFFF), "04X")


def tlv(tag: str, value: str | Sequence[Field]) -> str:
    """Encode one field; a sequence of fields becomes a nested template."""
    text = value if isinstance(value, str) else "".join(tlv(t, v) for t, v in value)
    if len(tag) != 2 or not tag.isdigit():
        raise PayloadError(f"tag {tag!r}: two digits expected")
    if not 0 < len(text) <= 99:
        raise PayloadError(f"tag {tag}: {len(text)} characters, 1-99 allowed", tag=tag)
    return f"{tag}{len(text):02d}{text}"


def encode(fields: Sequence[Field]) -> str:
    """Encode a whole payload (00 first, then 63 with its CRC) that `parse` accepts, or raise."""
    if not fields or fields[0][0] != "00":
        raise PayloadError("payload must start with tag 00 (payload format indicator)")
    body = "".join(tlv(tag, value) for tag, value in fields) + "6304"
    payload = body + crc16(body)
    parse(payload)  # never hand out a payload that a strict reader (a bank app) would refuse
    return payload


def _split(text: str, where: str) -> list[tuple[str, str]]:
    fields = []
    i = 0
    while i < len(text):
        tag, size = text[i : i + 2], text[i + 2 : i + 4]
        if len(tag) < 2 or not tag.isdigit() or len(size) < 2 or not size.isdigit():
            raise PayloadError(f"{where}offset {i}: expected a 2-digit tag and 2-digit length")
        length = int(size)
        value = text[i + 4 : i + 4 + length]
        if length == 0 or len(value) != length:
            raise PayloadError(
                f"{where}tag {tag}: length {length} but {len(value)} characters follow"
            )
        fields.append((tag, value))
        i += 4 + length
    return fields


def parse(payload: str) -> dict[str, str | dict[str, str]]:
    """Parse strictly (CRC, TLV, every data object's rules); raise PayloadError naming the tag."""
    if not payload.startswith("000201"):
        raise PayloadError("tag 00: payload must start with 000201")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise PayloadError("tag 63: the CRC field 6304XXXX must come last")
    expected = crc16(payload[:-4])
    if payload[-4:] != expected:
        raise PayloadError(f"tag 63: CRC {payload[-4:]} but the payload gives {expected}")
    result: dict[str, str | dict[str, str]] = {}
    for tag, value in _split(payload[:-8], ""):
        if tag in result:
            raise PayloadError(f"tag {tag}: appears twice")
        if tag == "63":
            raise PayloadError("tag 63: the CRC must come last, once")
        if tag in TEMPLATES:
            nested: dict[str, str] = {}
            for sub, sub_value in _split(value, f"tag {tag}: "):
                if sub in nested:
                    raise PayloadError(f"tag {tag}.{sub}: appears twice")
                if tag == "62" and int(sub) >= 50:  # payment system specific templates
                    _split(sub_value, f"tag 62.{sub}: ")
                nested[sub] = sub_value
            result[tag] = nested
        else:
            result[tag] = value
    check_fields(result)
    return result


def lookup(parsed: Mapping[str, str | Mapping[str, str]], path: str) -> str | None:
    """Read 'tag' or 'tag.sub' from a parsed payload."""
    tag, _, sub = path.partition(".")
    value = parsed.get(tag)
    if sub:
        return value.get(sub) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else None
