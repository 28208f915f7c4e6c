"""`stallbox cloud verify`: re-check a whole store end to end, e.g. after restoring a backup.

Nothing is taken from the store on trust. Every device's receipts are re-checked in seq order
with the ingest's own rules (`ingest.check_batch`: each signature against the enrolled key, then
the key each rekey line named; each link, each items hash, no gap) and must end at the head the
store records; every leaf of the Merkle log is re-hashed in log order and every complete subtree
recomputed and compared with the stored one, and their count too; the tree size must be the
number of leaves; and every signed checkpoint given (the ones boxes hold, the cloud's own marker) must verify under the
log key and name a root the recomputed tree has at that size. Read only: it never writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import StallboxError
from appliance.ledger.identity import parse_public_key
from appliance.ledger.receipt import GENESIS_PREV, b64
from appliance.ledger.wire import MAX_BATCH_RECEIPTS, NO_SEQ, VERSION, Batch, WireReceipt
from sync import tlog
from sync.checkpoint import Checkpoint, NoteVerifier, verify_checkpoint
from sync.cloud.ingest import check_batch
from sync.cloud.store import CloudStore, DeviceRecord, rekeyed_to
from sync.errors import NoteError

PAGE = MAX_BATCH_RECEIPTS


@dataclass
class AuditReport:
    """What `audit` found: counts, the recomputed root, and every problem (empty: all good)."""

    devices: int = 0
    receipts: int = 0
    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)


async def _device(store: CloudStore, record: DeviceRecord, report: AuditReport) -> None:
    device = record.device
    try:
        public = parse_public_key(record.public_key)
    except StallboxError as exc:
        report.problems.append(f"device {device}: trusted key unreadable ({exc})")
        return
    trusted, last_line = record.public_key, ""
    head_seq, head_hash = NO_SEQ, GENESIS_PREV
    while page := await store.receipts_page(device, head_seq, PAGE):
        if head_seq == NO_SEQ and page[0].seq == 0:
            public = _first_key(page[0].items) or public  # epoch 0: the start's key
        wires = [WireReceipt(r.seq, r.line, r.items) for r in page]
        batch = Batch(VERSION, head_seq + 1, b64(head_hash), wires)
        stored = {} if head_seq == NO_SEQ else {head_seq: last_line}
        checked = check_batch(batch, device, public, head_seq, head_hash, stored)
        report.receipts += len(checked.new)
        if checked.new:
            head_seq, head_hash = checked.new[-1].seq, checked.new[-1].hash
            last_line = checked.new[-1].line
            if (key := rekeyed_to(checked.new)) is not None:
                public, trusted = parse_public_key(key), key
        if (bad := checked.rejection) is not None:
            report.problems.append(f"device {device}: {bad.reason}: {bad.message}")
            return
    if trusted != record.public_key:
        report.problems.append(
            f"device {device}: its receipts' last rekey names key {trusted}, the store trusts "
            f"{record.public_key}"
        )
    if (head_seq, head_hash) != (record.head_seq, record.head_hash):
        report.problems.append(
            f"device {device}: the receipts end at seq {head_seq}, the store's head says "
            f"seq {record.head_seq} (hash {b64(record.head_hash)})"
        )


async def _tree(store: CloudStore, report: AuditReport, sizes: set[int]) -> dict[int, bytes]:
    """Re-hash every leaf in log order; compare every subtree; return roots at `sizes`."""
    frontier, roots, last = tlog.Frontier(), {}, -1
    if 0 in sizes:
        roots[0] = frontier.root()
    while page := await store.leaves_page(last, PAGE):
        completed: list[tlog.Subtree] = []
        for index, line in page:
            if index != last + 1:
                report.problems.append(f"log: index {last + 1} is missing (next is {index})")
                return roots
            last = index
            completed.extend(frontier.append(tlog.leaf_hash(line.encode("ascii", "replace"))))
            if frontier.size in sizes:
                roots[frontier.size] = frontier.root()
        ids = [tlog.SubtreeId(s.level, s.index) for s in completed]
        stored = await store.subtree_hashes(ids)
        for sub in completed:
            if stored.get(tlog.SubtreeId(sub.level, sub.index)) != sub.hash:
                report.problems.append(
                    f"log: subtree level {sub.level} index {sub.index} differs from its leaves"
                )
                return roots
    report.size, report.root = frontier.size, frontier.root()
    size = await store.tree_size()
    if size != frontier.size:
        report.problems.append(f"log: the store says size {size}, it holds {frontier.size} leaves")
    want = 2 * frontier.size - frontier.size.bit_count()
    if (count := await store.subtree_count()) != want:
        report.problems.append(f"log: {count} subtrees stored, a tree of its size has {want}")
    return roots


async def audit(
    store: CloudStore, verifiers: Sequence[NoteVerifier], checkpoints: Sequence[str] = ()
) -> AuditReport:
    """Re-check `store` end to end and each checkpoint (trusting only `verifiers`)."""
    report = AuditReport()
    opened = []
    for i, note in enumerate(checkpoints):
        try:
            opened.append(_open(note, verifiers))
        except NoteError as exc:
            report.problems.append(f"checkpoint {i + 1}: {exc}")
    for record in await store.devices():
        report.devices += 1
        await _device(store, record, report)
    roots = await _tree(store, report, {cp.size for cp in opened})
    for i, cp in enumerate(opened):
        report.checkpoints += 1
        if cp.size > report.size:
            report.problems.append(
                f"checkpoint {i + 1} ({cp.origin}): size {cp.size} is beyond the log's "
                f"{report.size} leaves: the store was rolled back"
            )
        elif roots.get(cp.size) != cp.root_hash:
            report.problems.append(
                f"checkpoint {i + 1} ({cp.origin}): the root at size {cp.size} differs: "
                "the log was rewritten"
            )
    return report


def _open(note: str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    last: NoteError | None = None
    for verifier in verifiers:
        try:
            return verify_checkpoint(note, verifier, origin=verifier.name)
        except NoteError as exc:
            last = exc
    raise last or NoteError("no log key to check it against")


def _first_key(items: str) -> Ed25519PublicKey | None:
    """The public key a start receipt's items name (None if they name none)."""
    try:
        found = msgspec.json.decode(items.encode("utf-8"))
        return parse_public_key(str(found["pubkey"])) if isinstance(found, dict) else None
    except (msgspec.DecodeError, KeyError, StallboxError):
        return None
