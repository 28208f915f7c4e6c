"""Wire types of the sync protocol, version 1: what the daemon (or a relay) and the cloud exchange.

One module both sides import, so a field cannot drift between them. Everything is JSON decoded
strictly by msgspec (unknown fields rejected, types exact), so a malformed request fails at the
edge with the field named. Binary values on the wire:

* `hash` fields of receipt lines are what the lines themselves carry: 128-bit base64url without
  padding (22 characters), the `prev` encoding of docs/receipt-format.md;
* Merkle hashes and proof elements are standard padded base64 of 32 bytes, as in C2SP checkpoints.

Endpoints (all JSON but the checkpoint, which is a C2SP signed note in text/plain):

    POST /v1/enrol                          EnrolRequest -> Enrolled
    GET  /v1/devices/{device}/head          -> Head                       (device token)
    POST /v1/devices/{device}/receipts      Batch -> BatchAck | 409 Conflict (device token)
    GET  /v1/devices/{device}/key           -> DeviceKeyOut               (public)
    GET  /v1/devices/{device}/receipts/{seq}/{digest} -> LogEntry         (public; digest:
                                            line_digest of the receipt's own line)
    GET  /v1/checkpoint                     -> signed note
    GET  /v1/proof/inclusion?index=I&size=N -> Proof
    GET  /v1/proof/consistency?first=M&size=N -> Proof
    GET  /v1/log                            -> LogInfo (origin and verifier key)
    GET  /v1/log/epochs                     -> LogStatus (the epochs after rollbacks)
    POST /v1/log/checkpoints                a signed note -> LogStatus    (public: proof of a
                                            rollback starts a new epoch)
    POST /v1/devices/{device}/funnel        FunnelBatch -> FunnelAck      (device token)
    POST /v1/relay/devices/{origin}/receipts Batch -> BatchAck | 409 Conflict (the relay's token)

Relay on the LAN (served by a peer's node, docs/sync-protocol.md "Relay"):

    GET  /relay/v1/info                              -> RelayInfo
    POST /relay/v1/devices/{origin}/batches          Batch (the origin's, unchanged) -> 202 RelayQueued
    GET  /relay/v1/devices/{origin}/acks?after=SEQ   -> [RelayAnswer]

Delivery is at-least-once and the cloud's apply is idempotent on (device, seq) and chain-checked,
so the effect is exactly-once: a batch overlapping what the cloud holds with identical bytes is
acknowledged again; a gap, a different body for a known seq, a broken link, a bad signature or a
bad items hash is answered 409 with the cloud's head and kept in quarantine for the operator.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Literal

import msgspec

VERSION = 1
MAX_INT = 2**53 - 1  # the largest integer every JSON reader (JavaScript too) holds exactly
Natural = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]  # an inbound seq, size or count
MAX_LINE = 1024  # a receipt line is at most 230 characters; anything far longer is not one
MAX_BATCH_RECEIPTS = 500
MAX_BATCH_BYTES = 256 * 1024
MAX_FUNNEL_MINUTES = 1440  # a day of minutes per request
NO_SEQ = -1  # the head seq of a device the cloud holds nothing for
ZERO_HASH = "AAAAAAAAAAAAAAAAAAAAAA"  # the `prev` of seq 0, and the head hash of an empty chain

ConflictReason = Literal[
    "gap",  # from_seq is past the cloud's head + 1: send the missing receipts first
    "fork",  # a known seq arrived with different bytes
    "chain",  # prev_hash or a line's `prev` does not link to the receipt before it
    "signature",  # a line's signature does not verify against the enrolled key
    "items",  # a receipt's items JSON does not hash to the line's `items` field
    "format",  # a line does not parse, or its device/seq disagrees with the batch
    "revoked",  # the device's token was revoked
]


class LogInfo(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The log's origin line and the C2SP verifier key its checkpoints are signed with."""

    origin: str
    verifier_key: str


class Epoch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One epoch of the log: a new one begins when a rolled-back store is detected.

    Epoch 1 is the log as first started (`reason` ""); each later one has its own origin
    (`epoch_origin`), starts from what the restored store held (`size_at_start` leaves), and
    names why (`reason`) and when. The frozen epoch's origin is never signed again.
    """

    epoch: int
    origin: str
    started_at: str
    size_at_start: int
    reason: str


class LogStatus(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The log's current epoch (its origin and verifier key) and every epoch so far."""

    origin: str
    verifier_key: str
    epoch: int
    epochs: list[Epoch]


class EnrolRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A box asks to be enrolled: the one-time token and its Ed25519 public key (PEM)."""

    token: str
    public_key: str
    name: str = ""


class Enrolled(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The cloud's answer to enrolment: the device id it knows the box by and its API token."""

    device: str
    api_token: str
    log: LogInfo


class WireReceipt(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One receipt: its seq, its signed line and the canonical JSON its `items` hash covers."""

    seq: Natural
    line: Annotated[str, msgspec.Meta(max_length=MAX_LINE)]
    items: str


class Batch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Consecutive receipts from `from_seq`, linked to `prev_hash` (the line hash of from_seq-1).

    `known_size` is the tree size of the last checkpoint the sender verified (0 for none): the
    acknowledgement then carries the consistency proof from it.
    """

    v: int
    from_seq: Natural
    prev_hash: str
    receipts: list[WireReceipt]
    known_size: Natural = 0


class Head(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What the cloud holds of one device: its last accepted seq and that line's hash."""

    device: str
    seq: int
    hash: str
    quarantined: int = 0


class BatchAck(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Sent only after the cloud's durable commit.

    `checkpoint` is a signed note for a tree that holds the batch; `last_index` is the log index
    of the batch's last receipt and `inclusion` its proof in that tree (each line carries the
    hash of the one before, so the last one commits to all of them); `consistency` proves the
    tree extends the one of `known_size` (empty when known_size was 0).
    """

    head: Head
    checkpoint: str
    last_index: int
    inclusion: list[str]
    consistency: list[str]


class Conflict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A 409: why the batch was refused, the cloud's head, and the first offending seq."""

    error: str
    reason: ConflictReason
    head: Head
    seq: int | None = None


class Problem(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Any other 4xx/5xx: a message naming the field or the cause."""

    error: str


class DeviceKeyOut(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A device's public key, for verifying its receipt lines anywhere (the /v page)."""

    device: str
    public_key: str
    raw_public_key: str  # base64url of the raw 32 bytes, for WebCrypto


class LogEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Where a receipt sits in the log, with its inclusion proof in the latest checkpoint."""

    device: str
    seq: int
    line: str
    index: int
    checkpoint: str
    inclusion: list[str]


class Evidence(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A sale's payment evidence state (docs/receipt-format.md "Payment evidence"): `state` is
    unverified, bank or unmatched; `evidence_seq` is the seq of the line that says so, if any."""

    device: str
    seq: int
    state: str
    evidence_seq: int | None = None


class Proof(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An inclusion or consistency proof: standard base64 of 32-byte hashes, in order."""

    hashes: list[str]


class ConversionLatency(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A minute's conversion latencies (first menu view -> paid) as a histogram: counts per
    bucket of appliance/ledger/figures.py's CONVERSION_BOUNDS_S (seconds, `le`), then one above
    them all, and the latencies' sum in milliseconds."""

    buckets: list[Natural]
    sum_ms: Natural


class FunnelCounts(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """A stall's attendee funnel in one UTC minute (`YYYY-MM-DDTHH:MM`): analytics, not ledger.

    `conversion` is optional: boxes before it never send it, and a minute with no latency
    measured leaves it out (so a cloud before it still takes such minutes)."""

    minute: str
    menu: Natural
    cart: Natural
    order: Natural
    paid: Natural
    conversion: ConversionLatency | None = None


class FunnelBatch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Finished minutes of funnel counts, sent only once no receipt is waiting."""

    v: int
    minutes: list[FunnelCounts]


class FunnelAck(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How many minutes the cloud stored (a repeat replaces the same minute)."""

    stored: int


class DeviceReport(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One device as the operator of the cloud sees it (`stallbox cloud devices`, /api/devices)."""

    device: str
    name: str
    enrolled_at: str
    revoked: bool
    head: Head
    last_problem: str | None
    last_contact: str | None = None  # the device's last authenticated request (to the minute)


class RelayInfo(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What a peer's node says about itself to a box that wants it to relay.

    `origin` is the log origin of the cloud it is enrolled with ("" if none): a box relays only
    through a peer of its own cloud. `uplink` is true while the peer's daemon reaches the cloud.
    """

    name: str
    device: str
    origin: str
    uplink: bool


class RelayQueued(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The peer stored the batch durably (202): `queued` batches of this origin wait for the cloud."""

    origin: str
    from_seq: int
    last_seq: int
    queued: int


class RelayAnswer(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The cloud's answer to one relayed batch, as the peer received it (`body` unchanged).

    `status` is the cloud's HTTP status: 200 with a BatchAck, 409 with a Conflict, or another
    refusal of the relay itself (a Problem). The origin verifies a BatchAck exactly as if it had
    uploaded the batch itself, against the batch's own `known_size`.
    """

    from_seq: int
    last_seq: int
    known_size: int
    status: int
    body: str


def epoch_origin(base: str, epoch: int) -> str:
    """Return the origin of the log's `epoch`: `base` for the first, then `base/e2`, `base/e3`…"""
    return base if epoch <= 1 else f"{base}/e{epoch}"


def line_digest(line: str) -> str:
    """Return what finds a receipt at the cloud: base64url (unpadded) SHA-256 of its line.

    Not the 128-bit line hash the next receipt carries as `prev`, so holding one receipt does
    not find its neighbours.
    """
    digest = hashlib.sha256(line.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def encode(value: msgspec.Struct) -> bytes:
    """Return the wire JSON of one message."""
    return msgspec.json.encode(value)
