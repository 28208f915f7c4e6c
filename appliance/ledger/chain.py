"""Verification of a whole chain of receipt lines: order, links, signatures, item hashes.

Used by `stallbox ledger verify`, by the sync daemon before it sends and by the cloud on ingest.
The first problem found is raised as ChainBroken with the seq it concerns, so an operator knows
exactly where to look.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.ledger.errors import ChainBroken, LedgerError
from appliance.ledger.identity import key_id
from appliance.ledger.receipt import (
    GENESIS_PREV,
    JsonValue,
    Receipt,
    ReceiptType,
    items_hash,
    parse_receipt,
    verify_receipt,
)


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain (or a verified prefix of it) ends: the next receipt must link here."""

    next_seq: int
    prev_hash: bytes


GENESIS = ChainHead(0, GENESIS_PREV)


@dataclass(frozen=True, slots=True)
class ChainSummary:
    """What a verified chain holds."""

    count: int
    head: ChainHead
    device_id: str | None


def verify_chain(
    lines: Iterable[str],
    keys: Ed25519PublicKey | Iterable[Ed25519PublicKey],
    *,
    start: ChainHead = GENESIS,
    items: Mapping[int, JsonValue] | None = None,
) -> ChainSummary:
    """Verify receipt lines in order from `start`; raise ChainBroken at the first bad seq.

    `keys` are the device's public keys (all epochs); `items`, when given, maps seq to the line
    items so each items hash and sale total is checked too.
    """
    key_list = [keys] if isinstance(keys, Ed25519PublicKey) else list(keys)
    by_id = {key_id(key): key for key in key_list}
    expected, prev_hash = start.next_seq, start.prev_hash
    device: str | None = None
    sales: dict[int, int] = {}  # seq -> total of the sales seen and not yet voided
    count = 0
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        try:
            receipt = parse_receipt(line)
        except LedgerError as exc:
            raise ChainBroken(expected, f"line {line_no}: {exc}") from None
        check_receipt(receipt, expected, prev_hash, device, by_id, sales, items, start.next_seq)
        device = receipt.device_id
        expected, prev_hash = receipt.seq + 1, receipt.hash
        count += 1
    return ChainSummary(count, ChainHead(expected, prev_hash), device)


def check_receipt(
    receipt: Receipt,
    expected: int,
    prev_hash: bytes,
    device: str | None,
    by_id: Mapping[str, Ed25519PublicKey],
    sales: dict[int, int],
    items: Mapping[int, JsonValue] | None,
    window_start: int,
) -> None:
    """Check one parsed receipt against the chain rules; raise ChainBroken naming its seq.

    `expected` and `prev_hash` are where the chain so far ends, `device` its device id (None for
    the first receipt), `by_id` the device's keys by key id; `sales` (seq -> total of the sales
    still standing since `window_start`) is updated in place. `items` as in `verify_chain`; the
    cloud passes None and checks the items hash on the canonical bytes it received.
    """
    seq = receipt.seq
    if seq != expected:
        what = "missing" if seq > expected else "out of order or repeated"
        raise ChainBroken(expected, f"found seq {seq} where {expected} was due (receipt {what})")
    if device is not None and receipt.device_id != device:
        raise ChainBroken(seq, f"device {receipt.device_id} in a chain of device {device}")
    public = by_id.get(receipt.key_id)
    if public is None:
        raise ChainBroken(seq, f"signed with key {receipt.key_id}, which is not a key given")
    try:
        verify_receipt(receipt, public)
    except LedgerError:
        raise ChainBroken(seq, "signature does not verify") from None
    if receipt.prev_hash != prev_hash:
        raise ChainBroken(seq, "prev hash does not match the previous receipt")
    if (seq == 0) != (receipt.kind is ReceiptType.START):
        raise ChainBroken(seq, "seq 0 must be the start receipt and only seq 0 may be one")
    if receipt.kind is ReceiptType.SALE:
        sales[seq] = receipt.total
    elif receipt.kind is ReceiptType.VOID:
        _check_void(receipt, window_start, sales)
    if items is not None:
        if seq not in items:
            raise ChainBroken(seq, "line items missing")
        if items_hash(items[seq]) != receipt.items_hash:
            raise ChainBroken(seq, "items hash does not match the line items")
        if receipt.kind in (ReceiptType.SALE, ReceiptType.VOID):
            total = items_total(items[seq])
            if total != receipt.total:
                raise ChainBroken(seq, f"total {receipt.total} but line items add up to {total}")


def _check_void(receipt: Receipt, window_start: int, sales: dict[int, int]) -> None:
    """A void names an earlier sale, voids it once, for its whole total."""
    voided = int(receipt.ref)
    if voided >= receipt.seq:
        raise ChainBroken(receipt.seq, f"voids seq {voided}, which is not earlier")
    if voided < window_start:
        return  # before the part of the chain we were given: cannot be checked here
    if voided not in sales:
        raise ChainBroken(receipt.seq, f"voids seq {voided}, which is not a sale still standing")
    if sales.pop(voided) != receipt.total:
        raise ChainBroken(receipt.seq, f"void total differs from the total of sale {voided}")


def items_total(items: JsonValue) -> int | None:
    """Sum qty x unit over sale line items; None when they are not a list of such objects."""
    if not isinstance(items, Sequence):
        return None
    total = 0
    try:
        for item in items:
            total += int(item["qty"]) * int(item["unit"])
    except (TypeError, KeyError, ValueError):
        return None
    return total
