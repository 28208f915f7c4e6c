"""The chain head read with a sale (store/ledger.py head_after): the next seq, the line's hash and
the time it signed, read by the parser parse_receipt uses; it must be the time parse_receipt reads."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ledger.chain import GENESIS
from appliance.ledger.identity import DeviceKey
from appliance.ledger.receipt import ReceiptType, build_receipt, line_hash, parse_receipt
from appliance.store.ledger import head_after

KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(32)))


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC)), st.integers(0, 10**9))
def test_the_heads_time_is_the_lines(at: datetime, seq: int) -> None:
    receipt = build_receipt(
        KEY, device_id=KEY.key_id, epoch=0, seq=seq, at=at, kind=ReceiptType.SALE,
        currency="BRL", total=500, items=b"[]", prev_hash=bytes(16),
    )  # fmt: skip
    head, time = head_after(seq, receipt.line)
    assert time == parse_receipt(receipt.line).time == at.replace(microsecond=0)
    assert time is not None and time.tzinfo is UTC
    assert (head.next_seq, head.prev_hash) == (seq + 1, line_hash(receipt.line))


def test_before_the_first_receipt_the_head_is_genesis() -> None:
    assert head_after(None, None) == (GENESIS, None)
