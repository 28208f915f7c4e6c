"""Checking one batch of receipts against what the cloud holds for a device: the ingest hot path.

Pure (no I/O, no clock): given the key trusted for the device (the enrolled one, or the one its
last accepted rekey line named), its head and the stored lines the batch overlaps,
`check_batch` says which receipts are new and may be appended, or why and where the batch
breaks; an accepted rekey line names the key trusted from the next line on. Each line is
parsed once and checked with the ledger's own chain rules
(`appliance.ledger.chain.check_receipt`), so the cloud can never accept a chain that
`stallbox ledger verify` would refuse. The Ed25519 verify (~100 µs) dominates; everything else
here is kept to a few µs per receipt.

Receipts before the first bad one are still returned as new: they form a valid chain from the
head, so the cloud appends them and the 409 carries the head they reach.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator, Mapping, Sequence, Set
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import StallboxError
from appliance.ledger.chain import ChainState, Verified, check_receipt, items_total
from appliance.ledger.errors import ChainBroken, LedgerError
from appliance.ledger.figures import BUCKETS
from appliance.ledger.identity import key_id, parse_public_key, public_key_text
from appliance.ledger.receipt import (
    GENESIS_PREV,
    HASH_BYTES,
    Receipt,
    ReceiptType,
    b64,
    digest_items,
    line_hash,
    parse_receipt,
    signing_input,
    unb64,
)
from appliance.ledger.rules import RULES
from appliance.ledger.wire import (
    MAX_BATCH_RECEIPTS,
    MAX_FUNNEL_MINUTES,
    MAX_INT,
    NO_SEQ,
    VERSION,
    Batch,
    ConflictReason,
    FunnelBatch,
    WireReceipt,
)
from sync.errors import BatchInvalid
from sync.tlog import leaf_hash

_BAD_SIGNATURE = "signature does not verify"  # chain.check_receipt's reason for a bad signature
_TOTALLED = (ReceiptType.SALE, ReceiptType.VOID)


@dataclass(frozen=True, slots=True)
class NewReceipt:
    """A checked receipt the cloud does not hold yet: what the store appends."""

    seq: int
    line: str
    items: str
    hash: bytes  # the 128-bit line hash: the device's head after it
    leaf: bytes  # RFC 9162 leaf hash of the line's ASCII bytes: its log entry
    next_key: str | None = None  # a rekey: the key it names, trusted for the device from now on


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a batch breaks, at which seq, and the offending wire receipt (kept in quarantine)."""

    reason: ConflictReason
    seq: int | None
    message: str
    line: str | None = None
    items: str | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """The verdict on a batch: the new receipts to append and, if it broke, why."""

    new: list[NewReceipt] = field(default_factory=list)
    rejection: Rejection | None = None


_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
FUNNEL_SKEW = timedelta(minutes=10)  # how far ahead of the cloud's clock a box's minute may be
_LINE = re.compile(r"[\x20-\x7e]*")  # a receipt line is printable ASCII (docs/receipt-format.md)
SLICE = 25  # lines per slice of a batch verified on the pool (500 lines: 20 slices)


def check_funnel(batch: FunnelBatch, now: datetime) -> None:
    """Raise BatchInvalid (naming the field) for funnel minutes no box could have counted.

    A box sends only finished minutes, so one later than `now` (plus FUNNEL_SKEW for a box
    clock a little ahead) is refused, as is one that is not a real UTC minute.
    """
    if batch.v != VERSION:
        raise BatchInvalid(
            f"v: protocol version {batch.v} is not supported (this cloud: {VERSION})"
        )
    if len(batch.minutes) > MAX_FUNNEL_MINUTES:
        raise BatchInvalid(f"minutes: {len(batch.minutes)}, at most {MAX_FUNNEL_MINUTES}", 413)
    for i, row in enumerate(batch.minutes):
        if not _MINUTE.fullmatch(row.minute):
            raise BatchInvalid(f"minutes[{i}].minute: {row.minute!r} is not YYYY-MM-DDTHH:MM")
        try:
            at = datetime.strptime(row.minute, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
        except ValueError:
            raise BatchInvalid(f"minutes[{i}].minute: {row.minute!r} is not a date") from None
        if at > now + FUNNEL_SKEW:
            raise BatchInvalid(
                f"minutes[{i}].minute: {row.minute} is in the future (the cloud's clock says "
                f"{now:%Y-%m-%dT%H:%M}); a box sends only finished minutes",
                422,
            )
        conversion = row.conversion
        if conversion is not None and len(conversion.buckets) != BUCKETS:
            raise BatchInvalid(
                f"minutes[{i}].conversion.buckets: {len(conversion.buckets)} counts, "
                f"{BUCKETS} expected (one per bound of docs/sync-protocol.md, then one above)",
                422,
            )
        if conversion is not None and sum(conversion.buckets) > row.paid:
            raise BatchInvalid(
                f"minutes[{i}].conversion.buckets: {sum(conversion.buckets)} latencies for "
                f"{row.paid} paid orders (one latency per paid order at most)",
                422,
            )


def check_shape(batch: Batch) -> None:
    """Raise BatchInvalid (naming the field) for a batch no device could have meant to send."""
    if batch.v != VERSION:
        raise BatchInvalid(
            f"v: protocol version {batch.v} is not supported (this cloud: {VERSION})"
        )
    if batch.from_seq < 0:
        raise BatchInvalid(f"from_seq: {batch.from_seq} is negative")
    if not batch.receipts:
        raise BatchInvalid("receipts: empty; send at least one receipt")
    if len(batch.receipts) > MAX_BATCH_RECEIPTS:
        raise BatchInvalid(
            f"receipts: {len(batch.receipts)} receipts, at most {MAX_BATCH_RECEIPTS}", 413
        )
    if batch.from_seq + len(batch.receipts) - 1 > MAX_INT:
        raise BatchInvalid(
            f"from_seq: {batch.from_seq} + {len(batch.receipts)} is past {MAX_INT}", 422
        )
    for i, wire in enumerate(batch.receipts):
        if not _LINE.fullmatch(wire.line):
            raise BatchInvalid(f"receipts[{i}].line: not printable ASCII", 422)
        if "\x00" in wire.items or not _utf8(wire.items):
            raise BatchInvalid(f"receipts[{i}].items: holds a NUL or is not UTF-8", 422)
    prev_hash(batch)


def _utf8(text: str) -> bool:
    """True if `text` encodes as UTF-8 (a lone surrogate from a JSON escape does not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def prev_hash(batch: Batch) -> bytes:
    """Return the batch's prev_hash as 16 bytes; BatchInvalid if it is not canonical base64url."""
    try:
        return unb64(batch.prev_hash, HASH_BYTES, "prev_hash")
    except (LedgerError, binascii.Error) as exc:
        raise BatchInvalid(str(exc)) from None


def overlap(batch: Batch, head_seq: int) -> tuple[int, int] | None:
    """Return the seq range (first, last) of stored lines `check_batch` needs, or None.

    That is the receipts the batch repeats, plus the one before from_seq (its hash is what
    prev_hash must be), when the cloud holds them.
    """
    first = max(batch.from_seq - 1, 0)
    last = min(head_seq, batch.from_seq + len(batch.receipts) - 1)
    if head_seq == NO_SEQ or first > last or batch.from_seq > head_seq + 1:
        return None
    return first, last


def _reject(reason: ConflictReason, seq: int, message: str, wire: WireReceipt | None) -> Rejection:
    if wire is None:
        return Rejection(reason, seq, message)
    return Rejection(reason, seq, f"seq {seq}: {message}", wire.line, wire.items)


def check_batch(
    batch: Batch,
    device: str,
    public: Ed25519PublicKey,
    head_seq: int,
    head_hash: bytes,
    stored: Mapping[int, str],
    pool: Executor | None = None,
) -> Checked:
    """Check `batch` (already shape-checked) for `device` whose head is (head_seq, head_hash).

    `stored` maps seq to the stored line for at least the `overlap` range. With `pool`, the new
    lines' signatures are verified on its threads (the verify releases the GIL) while the chain
    is checked here in order, each line's rules waiting for its signature's verdict.
    """
    verifying = None
    if pool is not None:
        lines = [
            wire.line for i, wire in enumerate(batch.receipts) if batch.from_seq + i > head_seq
        ]
        verifying = verify_lines(public, lines, pool)
    try:
        return _check(batch, device, public, head_seq, head_hash, stored, verifying)
    finally:
        if verifying is not None:
            verifying.cancel()


def _check(
    batch: Batch,
    device: str,
    public: Ed25519PublicKey,
    head_seq: int,
    head_hash: bytes,
    stored: Mapping[int, str],
    verifying: Verifying | None,
) -> Checked:
    from_seq, receipts = batch.from_seq, batch.receipts
    if from_seq > head_seq + 1:
        message = (
            f"from_seq {from_seq} leaves a gap: the cloud holds up to seq {head_seq}, "
            f"send seq {head_seq + 1} first"
        )
        return Checked([], _reject("gap", head_seq + 1, message, receipts[0]))
    if from_seq == 0:
        want_prev = GENESIS_PREV
    elif from_seq - 1 == head_seq:
        want_prev = head_hash
    else:
        want_prev = line_hash(stored[from_seq - 1])
    if prev_hash(batch) != want_prev:
        message = f"prev_hash is not the hash of seq {from_seq - 1} ({b64(want_prev)})"
        return Checked([], _reject("chain", from_seq, message, receipts[0]))

    new: list[NewReceipt] = []
    verified = None if verifying is None else Verified(public, verifying)
    trusted = key_id(public)  # the key trusted now: the enrolled one, or the last rekey's
    by_id = {trusted: public}
    state = ChainState.resume(head_seq + 1, head_hash, by_id, device)
    if head_seq in stored:
        _resume_at(state, stored[head_seq], trusted)
    for i, wire in enumerate(receipts):
        seq = from_seq + i
        if wire.seq != seq:
            reason: ConflictReason = "gap" if wire.seq > seq else "format"
            return Checked(new, _reject(reason, seq, f"found seq {wire.seq} in its place", wire))
        if seq <= head_seq:
            if wire.line != stored[seq]:
                message = "differs from the receipt the cloud holds for this seq"
                return Checked(new, _reject("fork", seq, message, wire))
            continue
        try:
            receipt = parse_receipt(wire.line)
        except LedgerError as exc:
            return Checked(new, _reject("format", seq, str(exc), wire))
        if receipt.seq != seq or receipt.device_id != device:
            message = f"the line says device {receipt.device_id} seq {receipt.seq}"
            return Checked(new, _reject("format", seq, message, wire))
        if receipt.key_id != trusted:
            message = f"signed with key {receipt.key_id}, not the key trusted for it ({trusted})"
            return Checked(new, _reject("signature", seq, message, wire))
        try:
            check_receipt(receipt, state, None, verified)
        except ChainBroken as exc:
            reason = "signature" if exc.reason == _BAD_SIGNATURE else "chain"
            return Checked(new, _reject(reason, seq, exc.reason, wire))
        if problem := _items_problem(wire.items, receipt.items_hash, receipt.kind, receipt.total):
            return Checked(new, _reject("items", seq, problem, wire))
        next_key = None
        if receipt.kind is ReceiptType.REKEY:
            try:
                named = _rekey_key(wire.items, receipt, state)
            except ValueError as exc:
                return Checked(new, _reject("items", seq, str(exc), wire))
            trusted = state.next_key = key_id(named)
            by_id[trusted], next_key = named, public_key_text(named)
        new.append(
            NewReceipt(
                seq, wire.line, wire.items, receipt.hash, leaf_hash(wire.line.encode()), next_key
            )
        )
    return Checked(new)


def _verified(public: Ed25519PublicKey, lines: Sequence[str]) -> list[str]:
    """The lines among `lines` whose signature field verifies over their body under `public`."""
    good = []
    for line in lines:
        body, _, sig = line.rpartition(";")
        try:
            public.verify(unb64(sig, 64, "sig"), signing_input(body))
        except (InvalidSignature, LedgerError, binascii.Error, UnicodeEncodeError):
            continue  # check_receipt verifies it again and names what is wrong
        good.append(line)
    return good


class Verifying(Set[str]):
    """The lines whose signature verifies, as the pool finds them: asking about a line waits
    for the slice that holds it, so the chain is checked in order while later slices are still
    being verified on other cores."""

    def __init__(self, futures: list[Future[list[str]]], where: dict[str, int]) -> None:
        self._futures = futures
        self._where = where

    def __contains__(self, line: object) -> bool:
        index = self._where.get(line) if isinstance(line, str) else None
        return index is not None and line in self._futures[index].result()

    def __iter__(self) -> Iterator[str]:
        for future in self._futures:
            yield from future.result()

    def __len__(self) -> int:
        return sum(len(future.result()) for future in self._futures)

    def cancel(self) -> None:
        """Drop the slices not started (the batch broke before them)."""
        for future in self._futures:
            future.cancel()


def verify_lines(public: Ed25519PublicKey, lines: Sequence[str], pool: Executor) -> Verifying:
    """Verify the lines' signatures under `public` on `pool`, in slices of SLICE lines."""
    futures: list[Future[list[str]]] = []
    where: dict[str, int] = {}
    for start in range(0, len(lines), SLICE):
        part = lines[start : start + SLICE]
        where.update(dict.fromkeys(part, len(futures)))
        futures.append(pool.submit(_verified, public, part))
    return Verifying(futures, where)


def _resume_at(state: ChainState, head_line: str, trusted: str) -> None:
    """Carry the epoch, key and currency of the stored head line into `state` (rules 4, 5, 9)."""
    try:
        head = parse_receipt(head_line)
    except LedgerError:
        return  # a line the cloud accepted always parses; `cloud verify` would name it
    state.device, state.currency = head.device_id, head.currency
    state.epoch, state.key = head.epoch, head.key_id
    if head.kind is ReceiptType.REKEY:
        state.rekeyed, state.next_key = True, trusted


def _rekey_key(items: str, receipt: Receipt, state: ChainState) -> Ed25519PublicKey:
    """The next key a rekey's items name, checked by the chain's own rule 13 (ValueError)."""
    try:
        found = msgspec.json.decode(items.encode("utf-8"))
        RULES[ReceiptType.REKEY].check_items(receipt, found, state)
        return parse_public_key(str(found["pubkey"]))
    except ChainBroken as exc:
        raise ValueError(exc.reason) from None
    except (msgspec.DecodeError, StallboxError) as exc:
        raise ValueError(f"rekey items: {exc}") from None


def _items_problem(items: str, want: bytes, kind: ReceiptType, total: int) -> str | None:
    """Check the items JSON against the line: its hash, and for sales and voids its total."""
    raw = items.encode("utf-8")
    if digest_items(raw) != want:
        return "items hash does not match the line items"
    if kind in _TOTALLED:
        try:
            found = items_total(msgspec.json.decode(raw))
        except msgspec.DecodeError:
            return "items are not JSON"
        if found != total:
            return f"total {total} but line items add up to {found}"
    return None
