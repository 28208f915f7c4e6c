"""Receipt lines: what build_receipt makes, parse_receipt reads back identically, within 230 chars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ledger.errors import ReceiptFormatError
from appliance.ledger.identity import DeviceKey
from appliance.ledger.receipt import (
    MAX_LINE,
    ReceiptType,
    build_receipt,
    items_hash,
    parse_receipt,
    verify_receipt,
)

KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(32)))
items = st.lists(
    st.fixed_dictionaries(
        {"sku": st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), "name": st.text(max_size=20),
         "qty": st.integers(1, 999), "unit": st.integers(0, 10**6)}
    ),
    max_size=5,
)  # fmt: skip
when = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(
    epoch=st.integers(0, 999),
    seq=st.integers(0, 9_999_999_999),
    at=when,
    kind=st.sampled_from(list(ReceiptType)),
    currency=st.sampled_from(["BRL", "JPY", "KWD", "EUR"]),
    total=st.integers(0, 999_999_999_999),
    line_items=items,
    prev=st.binary(min_size=16, max_size=16),
    ref=st.from_regex(r"[A-Za-z0-9-]{0,12}", fullmatch=True),
)
def test_build_then_parse_is_identity(
    epoch: int, seq: int, at: datetime, kind: ReceiptType, currency: str, total: int,
    line_items: list[dict[str, object]], prev: bytes, ref: str,
) -> None:  # fmt: skip
    if kind is ReceiptType.VOID:
        ref = str(seq)
    if kind is ReceiptType.EVIDENCE:
        ref = f"b{seq}"
    receipt = build_receipt(
        KEY, device_id=KEY.key_id, epoch=epoch, seq=seq, at=at, kind=kind, currency=currency,
        total=total, items=line_items, prev_hash=prev, ref=ref,
    )  # fmt: skip
    assert parse_receipt(receipt.line) == receipt
    assert len(receipt.line) <= MAX_LINE
    assert receipt.items_hash == items_hash(line_items)
    assert receipt.time == at.replace(microsecond=0)
    verify_receipt(receipt, KEY.public)


def test_times_are_stored_in_utc_to_the_second() -> None:
    brasilia = datetime(2026, 11, 26, 15, 0, 0, 999, tzinfo=UTC) + timedelta(hours=0)
    receipt = build_receipt(
        KEY, device_id=KEY.key_id, epoch=0, seq=1, at=brasilia.astimezone(), kind=ReceiptType.SALE,
        currency="BRL", total=0, items=[], prev_hash=bytes(16),
    )  # fmt: skip
    assert ";20261126T150000Z;" in receipt.line


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"ref": "x" * 13}, "ref"), ({"total": -1}, "total"), ({"currency": "brl"}, "currency"),
     ({"kind": ReceiptType.VOID, "ref": "A1"}, "ref"), ({"seq": 10**10}, "seq"),
     ({"kind": ReceiptType.EVIDENCE, "ref": "x1"}, "ref")],
)  # fmt: skip
def test_nothing_outside_the_grammar_is_ever_signed(changes: dict[str, object], field: str) -> None:
    fields: dict[str, object] = {
        "device_id": KEY.key_id, "epoch": 0, "seq": 1, "at": datetime(2026, 1, 1, tzinfo=UTC),
        "kind": ReceiptType.SALE, "currency": "BRL", "total": 0, "items": [],
        "prev_hash": bytes(16), "ref": "",
    }  # fmt: skip
    fields.update(changes)
    with pytest.raises(ReceiptFormatError, match=field):
        build_receipt(KEY, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "20261126T193552Z", "20240229T000000Z", "20230229T000000Z", "00000101T000000Z",
        "99991231T235959Z", "20261301T000000Z", "20261100T000000Z", "20261126T240000Z",
        "20261126T236000Z", "20261126T235960Z", "20261126T235961Z", "19700101T000000Z",
    ],
)  # fmt: skip
def test_the_time_is_read_as_strptime_reads_it(text: str) -> None:
    from datetime import UTC, datetime

    from appliance.ledger.receipt import TIME_FORMAT, parse_time

    try:
        want: object = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        want = ValueError
    try:
        got: object = parse_time(text)
    except ValueError:
        got = ValueError
    assert got == want
