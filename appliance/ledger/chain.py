"""Verification of a whole chain of receipt lines: every numbered rule of docs/receipt-format.md.

Used by `stallbox ledger verify`, by the sync daemon before it sends and by the cloud on ingest.
The first problem found is raised as ChainBroken with the seq it concerns and the number of the
rule it breaks, so an operator knows exactly where to look. The rules every line follows are
here; what each receipt type adds is the table in `appliance.ledger.rules`.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.ledger.errors import ChainBroken, LedgerError
from appliance.ledger.identity import key_id
from appliance.ledger.receipt import (
    GENESIS_PREV,
    HASH_BYTES,
    JsonValue,
    Receipt,
    ReceiptType,
    b64,
    items_hash,
    parse_receipt,
    unb64,
    verify_receipt,
)
from appliance.ledger.rules import RULES, ChainState, items_total

__all__ = [
    "GENESIS",
    "MISSING",
    "ChainHead",
    "ChainState",
    "ChainSummary",
    "Verified",
    "check_receipt",
    "items_total",
    "parse_head",
    "split_export",
    "verify_chain",
]


@dataclass(frozen=True, slots=True)
class ChainHead:
    """Where a chain (or a verified prefix of it) ends: the next receipt must link here."""

    next_seq: int
    prev_hash: bytes

    def text(self) -> str:
        """The head as `SEQ:HASH` (the last seq and its line hash), as `--head` takes it."""
        return f"{self.next_seq - 1}:{b64(self.prev_hash)}"


GENESIS = ChainHead(0, GENESIS_PREV)


@dataclass(frozen=True, slots=True)
class ChainSummary:
    """What a verified chain holds."""

    count: int
    head: ChainHead
    device_id: str | None


def parse_head(text: str) -> ChainHead:
    """Parse `SEQ:HASH` (HASH: base64url of the 16-byte line hash) into the head after SEQ."""
    seq_text, _, hash_text = text.partition(":")
    if not seq_text.isascii() or not seq_text.isdigit() or str(int(seq_text)) != seq_text:
        raise LedgerError(f"head: {seq_text!r} is not a seq (SEQ:HASH)")
    try:
        digest = unb64(hash_text, HASH_BYTES, "head hash")
    except (LedgerError, binascii.Error, UnicodeEncodeError):
        raise LedgerError(f"head: {hash_text!r} is not a 22-character base64url hash") from None
    return ChainHead(int(seq_text) + 1, digest)


def split_export(data: bytes) -> list[str]:
    """Split an export file into its receipt lines, as docs/receipt-format.md defines the file.

    LF ends a line, a CR before it is dropped, empty lines are skipped; every other byte stays
    (one byte, one character), so a non-ASCII byte breaks rule 1 at its line.
    """
    lines = (line.removesuffix(b"\r") for line in data.split(b"\n"))
    return [line.decode("latin-1") for line in lines if line]


def verify_chain(
    lines: Iterable[str],
    keys: Ed25519PublicKey | Iterable[Ed25519PublicKey],
    *,
    start: ChainHead = GENESIS,
    items: Mapping[int, JsonValue] | None = None,
    known_head: ChainHead | None = None,
) -> ChainSummary:
    """Verify receipt lines in order from `start`; raise ChainBroken at the first bad seq.

    `keys` are the device's public keys (all epochs); `items`, when given, maps seq to the line
    items so rule 13 (items hash, totals, start/close/rekey contents) is checked too.
    `known_head`, when given, is a head the chain is known to reach (the cloud's, or one noted
    earlier): a chain that ends before it, or passes it on another line, is broken.
    """
    key_list = [keys] if isinstance(keys, Ed25519PublicKey) else list(keys)
    by_id = {key_id(key): key for key in key_list}
    state = ChainState.resume(start.next_seq, start.prev_hash, by_id)
    count = 0
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        try:
            receipt = parse_receipt(line)
        except LedgerError as exc:
            raise ChainBroken(state.next_seq, f"line {line_no}: {exc}", rule=1) from None
        if items is None:
            check_receipt(receipt, state)
        else:
            check_receipt(receipt, state, items.get(receipt.seq, MISSING))
        count += 1
        if known_head is not None and _passes_elsewhere(state, known_head):
            message = f"differs from the known head {known_head.text()}"
            raise ChainBroken(receipt.seq, message, rule=14)
    head = ChainHead(state.next_seq, state.prev_hash)
    if known_head is not None and head.next_seq < known_head.next_seq:
        last = known_head.next_seq - 1
        raise ChainBroken(
            head.next_seq, f"missing: the chain ends here but the known head is seq {last}", rule=14
        )
    return ChainSummary(count, head, state.device)


def _passes_elsewhere(state: ChainState, head: ChainHead) -> bool:
    """Rule 14: the chain has just reached the known head's seq on a line of another hash."""
    return state.next_seq == head.next_seq and state.prev_hash != head.prev_hash


@dataclass(frozen=True, slots=True)
class Verified:
    """Lines whose signature verified under `key` (this object, not merely its key id)."""

    key: Ed25519PublicKey
    lines: Set[str]


class Absent(Enum):
    """The items of a receipt were expected but are not at hand."""

    MISSING = "missing"


MISSING = Absent.MISSING


def check_receipt(
    receipt: Receipt,
    state: ChainState,
    items: JsonValue | Absent | None = None,
    verified: Verified | None = None,
) -> None:
    """Check one parsed receipt against every rule, then advance `state` past it.

    Raises ChainBroken naming its seq and rule. `items` are this receipt's line items when at
    hand (MISSING when they should be and are not); the cloud passes None and checks the items
    hash on the canonical bytes it received. `verified` names lines whose signature the caller
    has already verified under one key object (the cloud verifies a batch's signatures on
    several cores first): such a line is not verified again only if the key the chain trusts
    for it here is that very object; every other line's signature is verified here.
    """
    seq = receipt.seq
    if seq != state.next_seq:
        what = "missing" if seq > state.next_seq else "out of order or repeated"
        raise ChainBroken(
            state.next_seq, f"found seq {seq} where {state.next_seq} was due (receipt {what})", 2
        )
    _check_identity(receipt, state, verified)
    if receipt.prev_hash != state.prev_hash:
        raise ChainBroken(seq, "prev hash does not match the previous receipt", rule=7)
    if (seq == 0) != (receipt.kind is ReceiptType.START):
        raise ChainBroken(seq, "seq 0 must be the start receipt and only seq 0 may be one", 8)
    if state.currency is not None and receipt.currency != state.currency:
        raise ChainBroken(seq, f"currency {receipt.currency} in a chain of {state.currency}", 9)
    rules = RULES[receipt.kind]
    rules.check(receipt, state)
    if items is MISSING:
        raise ChainBroken(seq, "line items missing", rule=13)
    if items is not None:
        if items_hash(items) != receipt.items_hash:
            raise ChainBroken(seq, "items hash does not match the line items", rule=13)
        rules.check_items(receipt, items, state)
    state.advance(receipt)
    rules.apply(receipt, items, state)


def _check_identity(receipt: Receipt, state: ChainState, verified: Verified | None) -> None:
    """Rules 3 to 6: the device, the epoch, the key of the epoch and the signature."""
    seq = receipt.seq
    if state.device is not None and receipt.device_id != state.device:
        raise ChainBroken(seq, f"device {receipt.device_id} in a chain of device {state.device}", 3)
    if seq == 0 and receipt.epoch != 0:
        raise ChainBroken(seq, f"epoch {receipt.epoch} at seq 0, where it is 0", rule=4)
    if state.epoch is not None:
        want = state.epoch + 1 if state.rekeyed else state.epoch
        if receipt.epoch != want:
            after = "after a rekey " if state.rekeyed else ""
            raise ChainBroken(seq, f"epoch {receipt.epoch} where {after}{want} was due", rule=4)
    if receipt.epoch == 0 and receipt.key_id != receipt.device_id:
        message = f"key {receipt.key_id} in epoch 0, where the key is the device id"
        raise ChainBroken(seq, message, rule=5)
    if state.rekeyed:
        if receipt.key_id in state.retired or receipt.key_id == state.key:
            raise ChainBroken(seq, f"key {receipt.key_id} of an earlier epoch after a rekey", 5)
        if state.next_key is not None and receipt.key_id != state.next_key:
            message = f"key {receipt.key_id}, but the rekey named key {state.next_key}"
            raise ChainBroken(seq, message, rule=5)
    elif state.key is not None and receipt.key_id != state.key:
        raise ChainBroken(seq, f"key {receipt.key_id} within the epoch of key {state.key}", 5)
    public = state.keys.get(receipt.key_id)
    if public is None:
        raise ChainBroken(seq, f"signed with key {receipt.key_id}, which is not a key given", 6)
    if verified is not None and public is verified.key and receipt.line in verified.lines:
        return
    try:
        verify_receipt(receipt, public)
    except LedgerError:
        raise ChainBroken(seq, "signature does not verify", rule=6) from None
