"""The relay's batch check (appliance/api/operator/relay.py) refuses numbers past what it can store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.api.operator.relay import MAX_TREE_SIZE, Refused, check_batch
from appliance.ledger.identity import DeviceKey
from appliance.ledger.receipt import ReceiptType, build_receipt
from appliance.ledger.wire import VERSION, Batch, WireReceipt

KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(32)))


def batch(known_size: int) -> Batch:
    receipt = build_receipt(
        KEY, device_id=KEY.key_id, epoch=0, seq=0, at=datetime(2026, 12, 4, tzinfo=UTC),
        kind=ReceiptType.START, currency="BRL", total=0, items=[], prev_hash=bytes(16),
    )  # fmt: skip
    return Batch(VERSION, 0, "", [WireReceipt(0, receipt.line, "[]")], known_size)


def test_a_tree_size_within_bounds_passes() -> None:
    assert check_batch(KEY.key_id, batch(MAX_TREE_SIZE)) == (0, 0, MAX_TREE_SIZE)


@pytest.mark.parametrize("size", [MAX_TREE_SIZE + 1, 2**63, 2**64 - 1])
def test_a_tree_size_past_sqlites_integers_is_422_naming_it(size: int) -> None:
    with pytest.raises(Refused) as refused:
        check_batch(KEY.key_id, batch(size))
    assert (refused.value.status, refused.value.field) == (422, "known_size")
