"""The receipt line: one compact ASCII line per receipt, exactly the bytes that are signed.

The line is what the receipt QR shows and what the cloud stores, so a phone can verify it
offline with only the device's public key. The grammar, the signing input and test vectors are
in docs/receipt-format.md; this module is the reference implementation of that document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from json.encoder import encode_basestring  # what json.dumps(ensure_ascii=False) quotes with
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.ledger.errors import ReceiptFormatError, SignatureInvalid
from appliance.ledger.identity import DeviceKey

FORMAT_TAG = "SR1"
SIGNING_PREFIX = b"stallbox receipt v1\n"  # domain separation: these signatures mean nothing else
HASH_BYTES = 16
GENESIS_PREV = bytes(HASH_BYTES)  # the start receipt at seq 0 links to sixteen zero bytes
MAX_LINE = 230
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
EVIDENCE_REF = r"[bu](?:0|[1-9]\d{0,9})"  # the state's letter, then the sale's seq

JsonValue = Mapping[str, Any] | Sequence[Any]


class ReceiptType(StrEnum):
    """What a receipt records."""

    START = "start"  # seq 0 of a device: binds the public key
    SALE = "sale"
    VOID = "void"  # ref = the seq of the sale it voids
    CLOSE = "close"  # daily close: totals since the previous close
    REKEY = "rekey"  # reserved: key rotation (last receipt of an epoch)
    FAIL = "fail"  # reserved: a logged signer failure
    EVIDENCE = "evidence"  # payment evidence for a sale: ref = b<seq> (bank) or u<seq> (unmatched)


# The grammar, field by field (docs/receipt-format.md): name and pattern.
GRAMMAR: tuple[tuple[str, str], ...] = (
    ("tag", FORMAT_TAG),
    ("device", r"[a-z2-7]{10}"),
    ("key", r"[a-z2-7]{10}"),
    ("epoch", r"0|[1-9]\d{0,2}"),
    ("seq", r"0|[1-9]\d{0,9}"),
    ("time", r"\d{8}T\d{6}Z"),
    ("type", r"[a-z]{4,8}"),
    ("currency", r"[A-Z]{3}"),
    ("total", r"0|[1-9]\d{0,11}"),
    ("items", r"[A-Za-z0-9_-]{22}"),
    ("prev", r"[A-Za-z0-9_-]{22}"),
    ("ref", r"[A-Za-z0-9-]{0,12}"),
    ("sig", r"[A-Za-z0-9_-]{86}"),
)
_LINE = re.compile("^" + ";".join(f"(?P<{name}>{pattern})" for name, pattern in GRAMMAR) + "$")


def b64(data: bytes) -> str:
    """Base64url without padding, the only binary encoding in a receipt line."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str, size: int, name: str) -> bytes:
    """Decode canonical base64url of exactly `size` bytes; anything else is a format error."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ReceiptFormatError(f"{name}: not base64url") from None
    if len(data) != size or b64(data) != text:  # unused low bits must be zero: one encoding only
        raise ReceiptFormatError(f"{name}: not the canonical base64url of {size} bytes")
    return data


SAFE_INT = 2**53  # RFC 8785 numbers are IEEE doubles: integers beyond this are not exact


def _plain(value: object) -> bool:
    """True for JSON made of ASCII-keyed objects, arrays, strings and safe integers only.

    For such values RFC 8785 and `json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)` give the same bytes (no floats to format, keys sort the same); the
    stdlib is about 4x faster than the pure-Python rfc8785 package on a sale's items, which
    matters on the sale's path. tests/ledger/test_canonical.py checks the two agree.
    """
    if isinstance(value, str):
        return True
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -SAFE_INT < value < SAFE_INT
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    return False


_LINE_KEYS = {"name": 0, "qty": 0, "sku": 0, "unit": 0}.keys()


def _sale_lines(items: object) -> bytes | None:
    """A sale's items (objects of exactly name, qty, sku, unit: strings and safe integers) written
    directly, None for anything else: the bytes `json.dumps` gives them (keys sorted, the same
    string quoting), without its encoder's set-up and the walk of `_plain`, on every sale's path.
    tests/ledger/test_canonical_lines.py checks them against rfc8785."""
    if type(items) is not list:
        return None
    if any(type(item) is not dict or item.keys() != _LINE_KEYS for item in items):
        return None
    return canonical_sale_lines(
        [(item["sku"], item["name"], item["qty"], item["unit"]) for item in items]
    )


def canonical_sale_lines(lines: Sequence[tuple[str, str, int, int]]) -> bytes | None:
    """The canonical items of a sale's (sku, name, qty, unit) lines, given in the items' order
    (a sale's: by sku): the bytes canonical_items gives their objects {"name", "qty", "sku",
    "unit"}, without building the objects. None when a value is not a str or a safe int as
    expected: then the caller builds the objects and takes canonical_items' other paths."""
    parts = []
    for sku, name, qty, unit in lines:
        if type(name) is not str or type(sku) is not str or type(qty) is not int:
            return None
        if type(unit) is not int or not (
            -SAFE_INT < qty < SAFE_INT and -SAFE_INT < unit < SAFE_INT
        ):
            return None
        parts.append(
            f'{{"name":{encode_basestring(name)},"qty":{qty},"sku":{encode_basestring(sku)},'
            f'"unit":{unit}}}'
        )
    return f"[{','.join(parts)}]".encode()


def canonical_items(items: JsonValue) -> bytes:
    """Return the RFC 8785 canonical JSON of a receipt's items, the input of the items hash."""
    lines = _sale_lines(items)
    if lines is not None:
        return lines
    if _plain(items):
        text = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")
    return bytes(rfc8785.dumps(items))


def digest_items(canonical: bytes) -> bytes:
    """Return the 128-bit items hash of canonical JSON: SHA-256, first 16 bytes."""
    return hashlib.sha256(canonical).digest()[:HASH_BYTES]


def items_hash(items: JsonValue) -> bytes:
    """Return the 128-bit items hash: SHA-256 of the RFC 8785 JSON, first 16 bytes."""
    return digest_items(canonical_items(items))


def line_hash(line: str) -> bytes:
    """Return the 128-bit hash of a whole receipt line, which the next receipt carries as prev."""
    return hashlib.sha256(line.encode("ascii")).digest()[:HASH_BYTES]


@dataclass(frozen=True, slots=True)
class Receipt:
    """One parsed receipt line."""

    device_id: str
    key_id: str
    epoch: int
    seq: int
    time: datetime
    kind: ReceiptType
    currency: str
    total: int
    items_hash: bytes
    prev_hash: bytes
    ref: str
    signature: bytes
    line: str

    @property
    def body(self) -> str:
        """The line without its signature field: what is signed (after the prefix)."""
        return self.line.rsplit(";", 1)[0]

    @property
    def hash(self) -> bytes:
        """The 128-bit hash of this line, the next receipt's prev."""
        return line_hash(self.line)


def signing_input(body: str) -> bytes:
    """Return the exact bytes an Ed25519 signature covers: the prefix and the body."""
    return SIGNING_PREFIX + body.encode("ascii")


def format_time(at: datetime) -> str:
    """Format an aware datetime as the receipt's UTC second, e.g. 20261126T193552Z."""
    if at.tzinfo is None:
        raise ReceiptFormatError("time: must be timezone-aware")
    return _utc_second(at.astimezone(UTC))


def _utc_second(at: datetime) -> str:
    """TIME_FORMAT of a UTC datetime: strftime's bytes, a third of its cost (a sale's path).

    Years before 1000 (which the grammar refuses) go through strftime, whose %Y pads them
    differently by platform; tests/ledger/test_receipt_build.py checks the two agree."""
    if at.year < 1000:
        return at.strftime(TIME_FORMAT)
    return "%04d%02d%02dT%02d%02d%02dZ" % (  # noqa: UP031 - %-format: the fastest here
        at.year, at.month, at.day, at.hour, at.minute, at.second,
    )  # fmt: skip


def build_receipt(
    key: DeviceKey,
    *,
    device_id: str,
    epoch: int,
    seq: int,
    at: datetime,
    kind: ReceiptType,
    currency: str,
    total: int,
    items: JsonValue | bytes,
    prev_hash: bytes,
    ref: str = "",
) -> Receipt:
    """Build and sign one receipt line; `items` may be given already canonical (bytes).

    The result equals parse_receipt(result.line); the property tests hold us to that.
    """
    canonical = items if isinstance(items, bytes) else canonical_items(items)
    digest = digest_items(canonical)
    if at.tzinfo is not UTC or at.microsecond:  # Box.append hands in UTC seconds already
        at = at.astimezone(UTC).replace(microsecond=0)
    body = ";".join(
        (
            FORMAT_TAG, device_id, key.key_id, str(epoch), str(seq), _utc_second(at),
            kind.value, currency, str(total), b64(digest), b64(prev_hash), ref,
        )
    )  # fmt: skip
    # The grammar, checked before anything is signed: on the typed values when they are of the
    # kinds whose every value renders in it (_in_grammar), else on the line, as parsing does.
    if not _in_grammar(
        device_id, key.key_id, epoch, seq, at, kind, currency, total, prev_hash, ref
    ):
        _match(f"{body};{'A' * 86}")
    signature = key.sign(signing_input(body))
    return Receipt(
        device_id=device_id, key_id=key.key_id, epoch=epoch, seq=seq, time=at, kind=kind,
        currency=currency, total=total, items_hash=digest, prev_hash=prev_hash,
        ref=ref, signature=signature, line=f"{body};{b64(signature)}",
    )  # fmt: skip


# What build_receipt's typed values may be for its line to be in the grammar without matching it
# (tests/ledger/test_receipt_build.py holds that every line they accept matches _LINE): the
# strings at once, the separators between them too (no field's class admits ";", so each field
# is exactly one of the joined strings); kinds whose value is [a-z]{4,8} and whose ref has no
# rule of its own (a void's and evidence's go to _match); ints (not bools) in the ranges whose
# str() the grammar accepts; a prev of 16 bytes (b64: 22 characters of the alphabet, as the
# items hash always is); a year of four digits. Every value of exactly its type (no subclass,
# whose str, format or fields could render otherwise). The longest such line is 229
# characters (<= MAX_LINE), all ASCII.
_TEXT_FIELDS = re.compile(r"[a-z2-7]{10};[a-z2-7]{10};[A-Z]{3};[A-Za-z0-9-]{0,12}")
_PLAIN_KINDS = frozenset(
    kind
    for kind in ReceiptType
    if kind not in (ReceiptType.VOID, ReceiptType.EVIDENCE) and re.fullmatch("[a-z]{4,8}", kind)
)


def _in_grammar(
    device_id: str, key_id: str, epoch: int, seq: int, at: datetime, kind: ReceiptType,
    currency: str, total: int, prev_hash: bytes, ref: str,
) -> bool:  # fmt: skip
    """True only if the line of these values is in the grammar (False: check the line itself)."""
    return (
        type(epoch) is int and 0 <= epoch <= 999
        and type(seq) is int and 0 <= seq <= 9_999_999_999
        and type(total) is int and 0 <= total <= 999_999_999_999
        and type(kind) is ReceiptType and kind in _PLAIN_KINDS
        and type(prev_hash) is bytes and len(prev_hash) == HASH_BYTES
        and type(at) is datetime and at.year >= 1000
        and type(device_id) is str and type(key_id) is str
        and type(currency) is str and type(ref) is str
        and _TEXT_FIELDS.fullmatch(f"{device_id};{key_id};{currency};{ref}") is not None
    )  # fmt: skip


def _match(line: str) -> re.Match[str]:
    """Check a line against the grammar; return the match of its fields."""
    if not line.isascii():
        column = next(i for i, char in enumerate(line, start=1) if not char.isascii())
        code = ord(line[column - 1])
        raise ReceiptFormatError(f"line: character {code:#x} at column {column} is not ASCII")
    if len(line) > MAX_LINE:
        raise ReceiptFormatError(f"line: {len(line)} characters, at most {MAX_LINE}")
    match = _LINE.fullmatch(line)
    if match is None:
        raise ReceiptFormatError(_explain(line))
    if match["type"] == ReceiptType.VOID and not re.fullmatch(r"0|[1-9]\d{0,9}", match["ref"]):
        raise ReceiptFormatError("ref: a void must name the seq it voids")
    if match["type"] == ReceiptType.EVIDENCE and not re.fullmatch(EVIDENCE_REF, match["ref"]):
        raise ReceiptFormatError("ref: evidence must be b<seq> (bank) or u<seq> (unmatched)")
    return match


def parse_receipt(line: str) -> Receipt:
    """Parse one receipt line strictly; raise ReceiptFormatError naming the bad field."""
    match = _match(line)
    try:
        rtype = ReceiptType(match["type"])
    except ValueError:
        raise ReceiptFormatError(f"type: unknown receipt type {match['type']!r}") from None
    try:
        when = parse_time(match["time"])
    except ValueError:
        raise ReceiptFormatError(f"time: {match['time']!r} is not a valid UTC time") from None
    ref = match["ref"]
    return Receipt(
        device_id=match["device"],
        key_id=match["key"],
        epoch=int(match["epoch"]),
        seq=int(match["seq"]),
        time=when,
        kind=rtype,
        currency=match["currency"],
        total=int(match["total"]),
        items_hash=unb64(match["items"], HASH_BYTES, "items"),
        prev_hash=unb64(match["prev"], HASH_BYTES, "prev"),
        ref=ref,
        signature=unb64(match["sig"], 64, "sig"),
        line=line,
    )


def parse_time(text: str) -> datetime:
    """TIME_FORMAT's UTC second, e.g. 20261126T193552Z, of a line in the grammar (ASCII digits
    where the format has them). As strptime does, a date or time that does not exist is a
    ValueError; this is 10x faster, and the cloud parses every receipt it ingests. Not
    fromisoformat: what it accepts (24:00, say) has moved between Python versions."""
    return datetime(
        int(text[0:4]), int(text[4:6]), int(text[6:8]),
        int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=UTC,
    )  # fmt: skip


def _explain(line: str) -> str:
    """Name the first field that breaks the grammar, for a useful error."""
    parts = line.split(";")
    if len(parts) != len(GRAMMAR):
        return f"line: {len(parts)} fields, a receipt has {len(GRAMMAR)}"
    for (name, pattern), value in zip(GRAMMAR, parts, strict=True):
        if not re.fullmatch(pattern, value):
            return f"{name}: {value[:40]!r} does not match the grammar"
    return "line: does not match the grammar"  # pragma: no cover - a field above fails first


def verify_receipt(receipt: Receipt, public: Ed25519PublicKey) -> None:
    """Check the receipt's signature under `public`; raise SignatureInvalid if it fails."""
    try:
        public.verify(receipt.signature, signing_input(receipt.body))
    except InvalidSignature:
        raise SignatureInvalid(f"seq {receipt.seq}: signature does not verify") from None
