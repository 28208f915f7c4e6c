"""A chain of receipts rejects every tampering: a changed byte, a removal, a swap, a foreign key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ledger.chain import ChainHead, verify_chain
from appliance.ledger.errors import ChainBroken, ReceiptFormatError
from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import (
    GENESIS_PREV,
    Receipt,
    ReceiptType,
    b64,
    build_receipt,
    line_hash,
    parse_receipt,
    signing_input,
)

KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
OTHER = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
PASTEL = [{"name": "Pastel", "qty": 2, "sku": "pastel", "unit": 950}]
COFFEE = [{"name": "Coffee", "qty": 1, "sku": "coffee", "unit": 600}]
CLOSE_ITEMS = {"from_seq": 0, "gross": 3100, "sales": 3, "to_seq": 4, "voided": 1900, "voids": 1}


def make_chain(key: DeviceKey = KEY) -> tuple[list[Receipt], dict[int, Any]]:
    plan: list[tuple[ReceiptType, int, Any, str]] = [
        (ReceiptType.START, 0, {"device": KEY.key_id, "pubkey": public_key_text(key.public)}, ""),
        (ReceiptType.SALE, 1900, PASTEL, "A1"),
        (ReceiptType.SALE, 600, COFFEE, "A2"),
        (ReceiptType.VOID, 1900, PASTEL, "1"),
        (ReceiptType.SALE, 600, COFFEE, "A3"),
        (ReceiptType.CLOSE, 3100, CLOSE_ITEMS, ""),
    ]  # fmt: skip
    receipts: list[Receipt] = []
    prev = GENESIS_PREV
    for seq, (kind, total, items, ref) in enumerate(plan):
        receipt = build_receipt(
            key, device_id=KEY.key_id, epoch=0, seq=seq, at=T0 + timedelta(minutes=seq),
            kind=kind, currency="BRL", total=total, items=items, prev_hash=prev, ref=ref,
        )  # fmt: skip
        receipts.append(receipt)
        prev = receipt.hash
    return receipts, {seq: plan[seq][2] for seq in range(len(plan))}


CHAIN, ITEMS = make_chain()
LINES = [r.line for r in CHAIN]


def test_the_untouched_chain_verifies() -> None:
    summary = verify_chain(LINES, KEY.public, items=ITEMS)
    assert summary.count == len(LINES)
    assert summary.head == ChainHead(len(LINES), line_hash(LINES[-1]))
    assert summary.device_id == KEY.key_id


def test_lines_round_trip_through_the_parser() -> None:
    for receipt in CHAIN:
        assert parse_receipt(receipt.line) == receipt
        assert len(receipt.line) <= 230


@pytest.mark.parametrize("index", range(len(LINES)))
def test_every_single_byte_change_is_rejected(index: int) -> None:
    """Exhaustive over positions: each byte replaced by a neighbour and by a far value."""
    line = LINES[index]
    for pos in range(len(line)):
        for delta in (1, 2, 64, 127):
            changed = chr((ord(line[pos]) + delta) % 128)
            tampered = [*LINES]
            tampered[index] = line[:pos] + changed + line[pos + 1 :]
            with pytest.raises(ChainBroken):
                verify_chain(tampered, KEY.public)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(LINES) - 1), pos=st.integers(0, 229), value=st.integers(0, 255))
def test_any_byte_value_anywhere_is_rejected(index: int, pos: int, value: int) -> None:
    raw = bytearray(LINES[index].encode("ascii"))
    pos %= len(raw)
    if raw[pos] == value:
        value = (value + 1) % 256
    raw[pos] = value
    tampered = [*LINES]
    tampered[index] = raw.decode("latin-1")
    with pytest.raises(ChainBroken):
        verify_chain(tampered, KEY.public)


@pytest.mark.parametrize("index", range(len(LINES) - 1))
def test_a_removed_receipt_is_rejected(index: int) -> None:
    with pytest.raises(ChainBroken) as caught:
        verify_chain(LINES[:index] + LINES[index + 1 :], KEY.public)
    assert caught.value.seq == index


def test_a_truncated_tail_is_only_detectable_against_a_known_head() -> None:
    """Dropping the newest receipts leaves a valid prefix; the sync head catches that instead."""
    summary = verify_chain(LINES[:-1], KEY.public)
    assert summary.head.next_seq == len(LINES) - 1


@pytest.mark.parametrize("index", range(len(LINES) - 1))
def test_two_receipts_swapped_are_rejected(index: int) -> None:
    swapped = [*LINES]
    swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
    with pytest.raises(ChainBroken) as caught:
        verify_chain(swapped, KEY.public)
    assert caught.value.seq == index


def test_a_receipt_signed_by_another_key_is_rejected() -> None:
    other_chain, _ = make_chain(OTHER)
    mixed = [*LINES]
    mixed[2] = other_chain[2].line
    with pytest.raises(ChainBroken, match="seq 2"):
        verify_chain(mixed, KEY.public)


def test_another_key_claiming_our_key_id_is_rejected() -> None:
    """A forger writes our key id into the line and signs with their own key."""
    genuine = CHAIN[2]
    forged = f"{genuine.body};{b64(OTHER.sign(signing_input(genuine.body)))}"
    with pytest.raises(ChainBroken, match="seq 2: signature does not verify"):
        verify_chain([*LINES[:2], forged, *LINES[3:]], KEY.public)


def test_a_whole_chain_under_another_key_is_rejected() -> None:
    other_chain, _ = make_chain(OTHER)
    with pytest.raises(ChainBroken, match="seq 0"):
        verify_chain([r.line for r in other_chain], KEY.public)


def test_changed_items_are_rejected() -> None:
    items = dict(ITEMS)
    items[1] = [{"name": "Pastel", "qty": 3, "sku": "pastel", "unit": 950}]
    with pytest.raises(ChainBroken, match="seq 1: items hash"):
        verify_chain(LINES, KEY.public, items=items)


def test_a_void_must_name_a_standing_sale() -> None:
    voids_twice = build_receipt(
        KEY, device_id=KEY.key_id, epoch=0, seq=6, at=T0, kind=ReceiptType.VOID, currency="BRL",
        total=1900, items=PASTEL, prev_hash=CHAIN[-1].hash, ref="1",
    )  # fmt: skip
    with pytest.raises(ChainBroken, match="seq 6: voids seq 1, which is not a sale still standing"):
        verify_chain([*LINES, voids_twice.line], KEY.public)


def test_verifying_from_a_known_head_checks_the_link() -> None:
    head = ChainHead(3, CHAIN[2].hash)
    assert verify_chain(LINES[3:], KEY.public, start=head).count == 3
    with pytest.raises(ChainBroken, match="seq 3: prev hash"):
        verify_chain(LINES[3:], KEY.public, start=ChainHead(3, CHAIN[1].hash))


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("SR2" + LINES[1][3:], "tag"),
        (LINES[1].replace(";sale;", ";sold;"), "type"),
        (LINES[1].replace(";BRL;", ";brl;"), "currency"),
        (LINES[1].replace(";1900;", ";01900;"), "total"),
        (LINES[1] + ";", "line: 14 fields"),
        (LINES[1][:-1], "sig"),
    ],
)
def test_format_errors_name_the_field(line: str, field: str) -> None:
    with pytest.raises(ReceiptFormatError, match=field):
        parse_receipt(line)


def test_non_canonical_base64_is_refused() -> None:
    """Base64url's unused low bits would let two lines carry one signature."""
    line = LINES[1]
    last = line[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(last) ^ 1]  # same high bits, a different unused bit
    with pytest.raises(ReceiptFormatError, match="canonical"):
        parse_receipt(line[:-1] + sibling)
