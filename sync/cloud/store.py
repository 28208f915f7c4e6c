"""The cloud's storage, behind one async interface that the SQLite and PostgreSQL stores share.

What is kept: one-time enrol tokens (SHA-256 at rest, with an expiry), devices (public key, name,
API token hash, revoked flag, head), every accepted receipt with its log index, the Merkle log as
its *complete subtrees* (`sync.tlog`: leaves are level 0) plus one row with the tree size, and
quarantine rows for every refused batch. `append_batch` writes receipts, subtrees, tree size and
head in one durable transaction, under a lock that serialises appends to the one log, and checks
that the device's head is still the one the batch was checked against (else `HeadMoved`, and the
caller checks again). Everything here that is not SQL is pure and shared by both stores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from appliance.ledger.wire import FunnelCounts
from sync.cloud.ingest import NewReceipt, Rejection
from sync.errors import CloudError
from sync.tlog import Frontier, ProofPlan, Subtree, SubtreeId, root_from_subtrees, root_subtrees

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # sorts as text, in both stores


class HeadMoved(CloudError):
    """The device's head changed between the check and the append (another worker appended)."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """One enrolled device as stored, with its head and how many quarantine rows it has."""

    device: str
    public_key: str  # base64url of the raw 32 bytes: the enrolled key, or the last rekey's
    name: str
    enrolled_at: str
    revoked: bool
    head_seq: int
    head_hash: bytes
    quarantined: int
    last_problem: str | None = None
    last_contact: str | None = None  # the last authenticated request (to the minute)


@dataclass(frozen=True, slots=True)
class IngestView:
    """What checking a batch needs from the store, read in one go: the device and stored lines."""

    device: DeviceRecord
    stored: dict[int, str]


@dataclass(frozen=True, slots=True)
class Appended:
    """The outcome of a committed append: the device's new head and the log it landed in."""

    head_seq: int
    head_hash: bytes
    last_index: int
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class LogPosition:
    """Where one receipt sits in the log."""

    device: str
    seq: int
    line: str
    index: int


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """One refused receipt or batch, kept for the operator; repeats bump `times`."""

    device: str
    reason: str
    seq: int | None
    message: str
    line: str
    first_at: str
    last_at: str
    times: int


@dataclass(frozen=True, slots=True)
class EpochRow:
    """A log epoch begun after a rollback was detected (table log_epochs)."""

    epoch: int
    origin: str
    started_at: str
    size_at_start: int
    reason: str
    evidence: str  # the signed checkpoint (or marker) that proved the rollback


@dataclass(frozen=True, slots=True)
class StoredLine:
    """One stored receipt of a device: what `stallbox cloud verify` re-checks."""

    seq: int
    line: str
    items: str


@dataclass(frozen=True, slots=True)
class LogAppend:
    """Rows an append writes: receipts with log indexes, completed subtrees, new size and root."""

    receipts: list[tuple[str, int, str, str, int]]  # device, seq, line, items, log index
    subtrees: list[Subtree]
    size: int
    root: bytes


class CloudStore(Protocol):
    """The storage the cloud app runs on; both stores implement exactly this."""

    async def close(self) -> None:
        """Close every connection."""
        ...

    async def epochs(self) -> list[EpochRow]:
        """Return the epochs begun after rollbacks, oldest first (empty: still the first)."""
        ...

    async def start_epoch(
        self, after: int, base: str, now: datetime, reason: str, evidence: str
    ) -> bool:
        """Begin epoch `after + 1` (origin `epoch_origin(base, …)`) if `after` is still current.

        Under the log's append lock, so its `size_at_start` is exact and, of several processes
        that detect one rollback at once, only one begins the epoch. False if another did.
        """
        ...

    async def claim_identity(self, origin: str, verifier_key: str) -> tuple[str, str]:
        """Record the log's (origin, verifier key) if the store has none; return the stored pair.

        The identity lives with the data, so a process with another key cannot sign this tree.
        """
        ...

    async def add_enrol_token(self, token_hash: str, now: datetime, expires: datetime) -> None:
        """Store a new one-time enrol token's hash."""
        ...

    async def enrol(
        self, token_hash: str, now: datetime, device: str, public_key: str, name: str,
        api_token_hash: str,
    ) -> None:  # fmt: skip
        """Use up the enrol token and create (or re-key the API token of) the device, atomically.

        EnrolRefused if the token is unknown, used or expired. Enrolling a known device again
        replaces its API token and lifts a revocation: the operator handed out a fresh token.
        """
        ...

    async def device(self, device: str) -> DeviceRecord | None:
        """Return one device, or None."""
        ...

    async def device_by_token(self, api_token_hash: str) -> DeviceRecord | None:
        """Return the device an API token belongs to, or None."""
        ...

    async def devices(self) -> list[DeviceRecord]:
        """Return every device with its last problem, by device id."""
        ...

    async def revoke(self, device: str) -> bool:
        """Revoke the device's API token; False if there is no such device."""
        ...

    async def ingest_view(self, device: str, span: tuple[int, int] | None) -> IngestView | None:
        """Return the device and its stored lines for seqs in `span` (inclusive), or None."""
        ...

    async def append_batch(
        self, device: str, after_seq: int, receipts: Sequence[NewReceipt]
    ) -> Appended:
        """Append receipts after head `after_seq` to the device and the log, durably, at once."""
        ...

    async def quarantine(self, device: str, rejection: Rejection, now: datetime) -> int:
        """Record a refused batch (a repeat bumps its count); return the device's row count."""
        ...

    async def quarantine_rows(self, device: str) -> list[QuarantineRow]:
        """Return the device's quarantine rows, oldest first."""
        ...

    async def clear_quarantine(self, device: str) -> int:
        """Delete the device's quarantine rows (the operator dealt with them); return how many."""
        ...

    async def delete_device(self, device: str) -> bool | None:
        """Delete a device the log holds nothing of; None if unknown, False if it has receipts."""
        ...

    async def touch(self, device: str, now: datetime) -> None:
        """Record that the device made an authenticated request at `now`."""
        ...

    async def put_funnel(self, device: str, minutes: Sequence[FunnelCounts]) -> int:
        """Store funnel minutes (a repeat replaces the minute); return how many."""
        ...

    async def position(self, device: str, seq: int) -> LogPosition | None:
        """Return where the device's receipt `seq` sits in the log, or None."""
        ...

    async def evidence_lines(self, device: str, sale_seq: int) -> list[tuple[int, str]]:
        """Return (seq, line) of the device's evidence lines about the sale at `sale_seq`."""
        ...

    async def tree_size(self) -> int:
        """Return the log's current size."""
        ...

    async def receipts_page(self, device: str, after_seq: int, limit: int) -> list[StoredLine]:
        """Return up to `limit` of the device's receipts past `after_seq`, by seq."""
        ...

    async def leaves_page(self, after_index: int, limit: int) -> list[tuple[int, str]]:
        """Return up to `limit` (log index, line) past `after_index`, by log index."""
        ...

    async def subtree_count(self) -> int:
        """Return how many complete subtrees are stored."""
        ...

    async def subtree_hashes(self, ids: Sequence[SubtreeId]) -> dict[SubtreeId, bytes]:
        """Return the stored hashes among these complete subtrees."""
        ...


def device_record(row: Sequence[Any]) -> DeviceRecord:
    """A DeviceRecord from a store's device query row (the last problem tab-separated)."""
    device, public_key, name, enrolled_at, revoked, head_seq, head_hash, count, last, seen = row
    problem = None
    if isinstance(last, str):
        reason, seq, message = last.split("\t", 2)
        problem = problem_text(reason, None if seq == "-1" else int(seq), message)
    return DeviceRecord(
        str(device), str(public_key), str(name), str(enrolled_at), bool(revoked),
        int(head_seq), bytes(head_hash), int(count), problem, None if seen is None else str(seen),
    )  # fmt: skip


def rekeyed_to(receipts: Sequence[NewReceipt]) -> str | None:
    """The key the last rekey among `receipts` names (the device's key from then on), or None."""
    return next((r.next_key for r in reversed(receipts) if r.next_key is not None), None)


def evidence_pattern(sale_seq: int) -> str:
    """A LIKE pattern for evidence lines whose ref (b or u, then the seq) names `sale_seq`.

    Only the ref can hold ";" + one letter + digits + ";" (the items and prev fields are 22
    characters, the total digits only), so the pattern finds exactly those lines.
    """
    return f"%;evidence;%;_{sale_seq};%"


def token_hash(token: str) -> str:
    """Return how a token is kept at rest: hex SHA-256 (tokens are 256-bit random)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def timestamp(at: datetime) -> str:
    """Return the stored form of a time: UTC to the second, sortable as text."""
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def extend_log(
    device: str, size: int, edge: dict[SubtreeId, bytes], receipts: Sequence[NewReceipt]
) -> LogAppend:
    """Append the receipts' leaves to the tree of `size` whose edge subtrees are `edge`."""
    frontier = Frontier.from_subtrees(size, edge)
    subtrees: list[Subtree] = []
    rows = []
    for i, receipt in enumerate(receipts):
        subtrees.extend(frontier.append(receipt.leaf))
        rows.append((device, receipt.seq, receipt.line, receipt.items, size + i))
    return LogAppend(rows, subtrees, frontier.size, frontier.root())


def problem_text(reason: str, seq: int | None, message: str) -> str:
    """Return the one-line summary of a quarantine row the operator sees."""
    return (
        f"{reason}: {message}"
        if seq is None or message.startswith("seq ")
        else (f"{reason}: seq {seq}: {message}")
    )


async def root(store: CloudStore, size: int) -> bytes:
    """Return the root of the log's first `size` leaves."""
    return root_from_subtrees(size, await store.subtree_hashes(root_subtrees(size)))


async def proofs(store: CloudStore, *plans: ProofPlan) -> list[list[bytes]]:
    """Fetch every subtree the plans need in one query and assemble each proof."""
    ids = list(dict.fromkeys(sid for plan in plans for sid in plan.subtrees))
    hashes = await store.subtree_hashes(ids) if ids else {}
    return [plan.assemble(hashes) for plan in plans]


# A funnel minute's conversion latency histogram (appliance/ledger/figures.py) beside its
# counts: replaced with the minute, dropped when the minute comes again without one.
PUT_LATENCY = (
    "INSERT INTO funnel_latency (device, minute, buckets, sum_ms) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (device, minute) DO UPDATE SET buckets = excluded.buckets,"
    " sum_ms = excluded.sum_ms"
)
DROP_LATENCY = "DELETE FROM funnel_latency WHERE device = %s AND minute = %s"


def latency_rows(
    device: str, minutes: Sequence[FunnelCounts]
) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str]]]:
    """The rows of PUT_LATENCY (minutes with a histogram) and of DROP_LATENCY (those without)."""
    measured, unmeasured = [], []
    for m in minutes:
        if m.conversion is None:
            unmeasured.append((device, m.minute))
        else:
            text = ",".join(map(str, m.conversion.buckets))
            measured.append((device, m.minute, text, m.conversion.sum_ms))
    return measured, unmeasured
