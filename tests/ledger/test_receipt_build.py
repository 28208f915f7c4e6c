"""build_receipt's shortcuts sign exactly what the full grammar check would let it sign.

The time is formatted without strftime, and the grammar of a line we build is checked on its
typed values (`_in_grammar`) when they are of the kinds whose every rendering is in the grammar;
anything else is checked on the line itself, as before. These tests hold both to the reference:
strftime's bytes and the full regex (`_LINE`, the grammar of docs/receipt-format.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from appliance.ledger.errors import ReceiptFormatError
from appliance.ledger.identity import DeviceKey
from appliance.ledger.receipt import (
    _LINE,
    FORMAT_TAG,
    MAX_LINE,
    TIME_FORMAT,
    ReceiptType,
    _in_grammar,
    _match,
    _utc_second,
    b64,
    build_receipt,
    parse_receipt,
)

KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(32)))


@settings(max_examples=500, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
@example(datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC))
@example(datetime(1000, 1, 1, tzinfo=UTC))
@example(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
def test_the_time_is_strftimes(at: datetime) -> None:
    assert _utc_second(at) == at.strftime(TIME_FORMAT)


# Values on both sides of every limit, and text with separators, non-ASCII and the wrong case.
text = st.text(alphabet="abz27AZ09-_;é\n ", max_size=14)
ident = st.from_regex(r"[a-z2-7]{10}", fullmatch=True) | text
number = st.integers(-2, 2_000) | st.integers(9_999_999_990, 10_000_000_010) | st.booleans()
big = st.integers(999_999_999_990, 1_000_000_000_010) | number
when = st.datetimes(timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(
    device_id=ident, key_id=ident, epoch=number, seq=number, at=when,
    kind=st.sampled_from(list(ReceiptType)), currency=st.from_regex(r"[A-Z]{3}", fullmatch=True)
    | text, total=big, prev=st.binary(min_size=14, max_size=18),
    ref=st.from_regex(r"[A-Za-z0-9-]{0,12}", fullmatch=True) | text,
)  # fmt: skip
@example(
    device_id="a" * 10, key_id="b" * 10, epoch=999, seq=9_999_999_999,
    at=datetime(9999, 12, 31, tzinfo=UTC), kind=ReceiptType.EVIDENCE, currency="BRL",
    total=999_999_999_999, prev=bytes(16), ref="x" * 12,
)  # fmt: skip
def test_typed_values_pass_only_what_the_grammar_passes(
    device_id: str, key_id: str, epoch: int, seq: int, at: datetime, kind: ReceiptType,
    currency: str, total: int, prev: bytes, ref: str,
) -> None:  # fmt: skip
    fields = (FORMAT_TAG, device_id, key_id, str(epoch), str(seq), _utc_second(at), kind.value,
              currency, str(total), b64(bytes(16)), b64(prev), ref)  # fmt: skip
    line = ";".join(fields) + ";" + "A" * 86
    if _in_grammar(device_id, key_id, epoch, seq, at, kind, currency, total, prev, ref):
        assert _LINE.fullmatch(line) is not None
        assert len(line) <= MAX_LINE
        _match(line)  # the void's and evidence's ref rules too


@settings(max_examples=300, deadline=None)
@given(
    epoch=number, seq=number, at=when, kind=st.sampled_from(list(ReceiptType)),
    currency=st.from_regex(r"[A-Z]{3}", fullmatch=True) | text, total=big,
    prev=st.binary(min_size=15, max_size=17),
    ref=st.from_regex(r"[A-Za-z0-9-]{0,12}", fullmatch=True) | text,
)  # fmt: skip
def test_build_refuses_exactly_what_the_line_check_refuses(
    epoch: int, seq: int, at: datetime, kind: ReceiptType, currency: str, total: int,
    prev: bytes, ref: str,
) -> None:  # fmt: skip
    fields = (FORMAT_TAG, KEY.key_id, KEY.key_id, str(epoch), str(seq), _utc_second(at),
              kind.value, currency, str(total), b64(bytes(16)), b64(prev), ref)  # fmt: skip
    refused = None
    try:
        _match(";".join(fields) + ";" + "A" * 86)
    except ReceiptFormatError as exc:
        refused = str(exc)
    if refused is not None:
        with pytest.raises(ReceiptFormatError) as built:
            build_receipt(
                KEY, device_id=KEY.key_id, epoch=epoch, seq=seq, at=at, kind=kind,
                currency=currency, total=total, items=b"[]", prev_hash=prev, ref=ref,
            )  # fmt: skip
        assert str(built.value) == refused  # the same field named
        return
    receipt = build_receipt(
        KEY, device_id=KEY.key_id, epoch=epoch, seq=seq, at=at, kind=kind, currency=currency,
        total=total, items=b"[]", prev_hash=prev, ref=ref,
    )  # fmt: skip
    assert parse_receipt(receipt.line) == receipt


def test_every_kind_the_typed_check_passes_is_in_the_grammar() -> None:
    for kind in ReceiptType:
        assert _in_grammar("a" * 10, "b" * 10, 0, 1, datetime(2026, 12, 5, tzinfo=UTC), kind,
                           "BRL", 0, bytes(16), "") is (
            kind not in (ReceiptType.VOID, ReceiptType.EVIDENCE)
        )  # fmt: skip


class _Str(str):
    """A str whose format may differ from its text: never passed without the line's regex."""

    __slots__ = ()


class _Time(datetime):
    """A datetime whose fields may be overridden: never passed without the line's regex."""


GOOD = {
    "device_id": "a" * 10, "key_id": "b" * 10, "epoch": 0, "seq": 1,
    "at": datetime(2026, 12, 5, tzinfo=UTC), "kind": ReceiptType.SALE, "currency": "BRL",
    "total": 0, "prev": bytes(16), "ref": "",
}  # fmt: skip
EDGES: list[tuple[str, object, bool]] = [  # field, value, in the grammar
    ("epoch", 999, True), ("epoch", 1000, False), ("epoch", -1, False), ("epoch", True, False),
    ("seq", 9_999_999_999, True), ("seq", 10**10, False), ("seq", -1, False),
    ("total", 999_999_999_999, True), ("total", 10**12, False), ("total", -1, False),
    ("total", False, False), ("device_id", "a" * 9, False), ("device_id", "a" * 11, False),
    ("device_id", "a" * 9 + "1", False), ("device_id", "A" * 10, False),
    ("key_id", "b" * 9 + ";", False), ("key_id", "abcdefgh27", True), ("currency", "BR", False),
    ("currency", "brl", False), ("currency", "BRLX", False), ("currency", "BR;", False),
    ("ref", "a-Z9" * 3, True), ("ref", "a" * 13, False), ("ref", "a;b", False),
    ("ref", "a_b", False), ("ref", "é", False), ("ref", "a\n", False), ("prev", bytes(15), False),
    ("prev", bytes(17), False), ("at", datetime(999, 1, 1, tzinfo=UTC), False),
    ("at", datetime(1000, 1, 1, tzinfo=UTC), True), ("kind", ReceiptType.VOID, False),
    ("kind", ReceiptType.EVIDENCE, False), ("kind", ReceiptType.REKEY, True),
    ("prev", memoryview(bytes(32)).cast("H"), False), ("ref", _Str("a"), False),
    ("device_id", _Str("a" * 10), False), ("at", _Time(2026, 12, 5, tzinfo=UTC), False),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value", "valid"), EDGES)
def test_each_limit_of_the_typed_check(field: str, value: object, valid: bool) -> None:
    values = GOOD | {field: value}
    at = values["at"]
    assert isinstance(at, datetime)
    fields = (FORMAT_TAG, values["device_id"], values["key_id"], str(values["epoch"]),
              str(values["seq"]), _utc_second(at), values["kind"].value,  # type: ignore[attr-defined]
              values["currency"], str(values["total"]), b64(bytes(16)),
              b64(values["prev"]), values["ref"])  # type: ignore[arg-type]  # fmt: skip
    line = ";".join(fields) + ";" + "A" * 86  # type: ignore[arg-type]
    assert _in_grammar(*values.values()) is valid  # type: ignore[arg-type]
    if valid:  # passed without the regex: the regex passes it too
        assert _LINE.fullmatch(line) is not None
