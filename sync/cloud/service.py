"""The cloud's use cases over a store: enrol, authenticate, ingest, checkpoints and proofs.

The HTTP layer (app.py) only parses and renders; everything the protocol promises is here:
a batch is checked against the head read in one store call, the new receipts are appended in
one durable transaction, and only then is the acknowledgement (checkpoint, inclusion and
consistency proofs) built. A refused batch is quarantined before the 409 goes out.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import logging
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.errors import StallboxError
from appliance.ledger.identity import key_id, parse_public_key, public_key_text
from appliance.ledger.receipt import b64
from appliance.ledger.wire import (
    Batch,
    BatchAck,
    Conflict,
    DeviceKeyOut,
    DeviceReport,
    Enrolled,
    EnrolRequest,
    Epoch,
    Evidence,
    FunnelAck,
    FunnelBatch,
    Head,
    LogEntry,
    LogInfo,
    LogStatus,
    Proof,
    line_digest,
)
from sync import tlog
from sync.checkpoint import sign_checkpoint, verifier_key
from sync.cloud import rollback
from sync.cloud import store as st
from sync.cloud.events import log_event
from sync.cloud.ingest import check_batch, check_funnel, check_shape
from sync.cloud.store import CloudStore, DeviceRecord, HeadMoved
from sync.errors import AuthError, BatchInvalid, EnrolRefused, LogError

_log = logging.getLogger(__name__)
ENROL_TTL = timedelta(hours=24)
CONTACT_EVERY = timedelta(minutes=1)
MAX_NAME = 64
_RETRIES = 8  # appends lost to a concurrent worker on the same device before giving up


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode("ascii") for v in values]


def head_of(record: DeviceRecord, quarantined: int | None = None) -> Head:
    """Return the wire Head of a stored device."""
    count = record.quarantined if quarantined is None else quarantined
    return Head(record.device, record.head_seq, b64(record.head_hash), count)


ENROL_TOKEN_PREFIX = "sbx-enrol."  # noqa: S105 - a label, not a secret


async def new_enrol_token(store: CloudStore, now: datetime, ttl: timedelta = ENROL_TTL) -> str:
    """Create a one-time enrol token valid for `ttl`; only its hash is stored.

    The `sbx-enrol.` prefix names what the token is when it turns up in a shell history, and
    keeps it from starting with "-", which base64url allows and `stallbox enrol` would read as
    an option (one token in 64 did).
    """
    token = ENROL_TOKEN_PREFIX + secrets.token_urlsafe(24)
    await store.add_enrol_token(st.token_hash(token), now, now + ttl)
    return token


class Cloud:
    """The reference cloud: one store, one log signing key, one origin."""

    def __init__(
        self,
        store: CloudStore,
        signer: Ed25519PrivateKey,
        origin: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.base = origin  # the first epoch's origin; later epochs add "/eN"
        self.origin = origin  # the current epoch's (`_refresh`)
        self.epoch = 1
        self._signer = signer
        self._clock = clock
        self.log = LogInfo(origin, verifier_key(origin, signer.public_key()))
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._contact: dict[str, datetime] = {}  # last contact written, per device
        self._note: tuple[str, int, bytes, str] | None = None  # the last checkpoint signed
        self.size = 0  # the largest tree size seen, for STATUS=
        # A batch's signatures are verified on every core (the verify releases the GIL): the
        # one cost per receipt the cloud cannot avoid
        # (docs/performance/2026-12-04-console-drain-postgres-perf-pi.md, "The drain").
        self._verifiers = ThreadPoolExecutor(os.cpu_count(), thread_name_prefix="cloud-verify")

    async def new_enrol_token(self, ttl: timedelta = ENROL_TTL) -> str:
        """Create a one-time enrol token; only its hash is stored."""
        return await new_enrol_token(self.store, self._clock(), ttl)

    async def enrol(self, request: EnrolRequest) -> Enrolled:
        """Enrol the key in `request` with its one-time token; return the device id and token."""
        if not request.token:
            raise EnrolRefused("token: empty")
        if len(request.name) > MAX_NAME or not request.name.isprintable():
            raise EnrolRefused(f"name: at most {MAX_NAME} printable characters")
        try:
            public = parse_public_key(request.public_key)
        except StallboxError as exc:
            raise EnrolRefused(str(exc)) from None
        device, api_token = key_id(public), secrets.token_urlsafe(32)
        await self._refresh()
        await self.store.enrol(
            st.token_hash(request.token), self._clock(), device, public_key_text(public),
            request.name, st.token_hash(api_token),
        )  # fmt: skip
        return Enrolled(device, api_token, self.log)

    async def authenticate(self, device: str, authorization: str | None) -> DeviceRecord:
        """Return the device a `Bearer` header belongs to; AuthError (401/403) if it is not it."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization: a device token is needed (Bearer)")
        record = await self.store.device_by_token(st.token_hash(token.strip()))
        if record is None:
            raise AuthError("Authorization: unknown device token")
        if record.device != device:
            raise AuthError(f"Authorization: the token is not device {device}'s", 403)
        await self._touch(record.device)
        return record

    async def _touch(self, device: str) -> None:
        """Record the device's last contact, at most once a minute (a write costs an fsync)."""
        now = self._clock()
        if (seen := self._contact.get(device)) is not None and now - seen < CONTACT_EVERY:
            return
        self._contact[device] = now
        await self.store.touch(device, now)

    async def authenticate_relay(
        self, origin: str, authorization: str | None
    ) -> tuple[DeviceRecord, DeviceRecord]:
        """Return (relay, origin) for a relayed batch: the `Bearer` token is the relay's own.

        Any enrolled, unrevoked device may relay for any other device enrolled here; it never
        holds the origin's token, and it cannot alter a receipt unseen (each line is checked
        against the origin's key). AuthError 401 for a bad token, 403 if the relay is revoked or
        the origin is not enrolled with this cloud.
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization: the relay's device token is needed (Bearer)")
        relay = await self.store.device_by_token(st.token_hash(token.strip()))
        if relay is None:
            raise AuthError("Authorization: unknown device token")
        if relay.revoked:
            raise AuthError(f"Authorization: device {relay.device} was revoked", 403)
        await self._touch(relay.device)
        record = await self.store.device(origin)
        if record is None:
            raise AuthError(f"origin: device {origin} is not enrolled with this cloud", 403)
        return relay, record

    def _public(self, record: DeviceRecord) -> Ed25519PublicKey:
        """The key trusted for the device now (a rekey accepted by any worker changes it)."""
        key = self._keys.get(record.public_key)
        if key is None:
            key = self._keys[record.public_key] = parse_public_key(record.public_key)
        return key

    async def ingest(
        self, record: DeviceRecord, batch: Batch, relay: DeviceRecord | None = None
    ) -> BatchAck | Conflict:
        """Check and apply one batch; return the acknowledgement or the 409 body.

        With `relay`, the batch came through that device: a refusal names it in quarantine.
        """
        check_shape(batch)
        device = record.device
        last_seq = batch.from_seq + len(batch.receipts) - 1
        span = (max(batch.from_seq - 1, 0), last_seq)
        for _ in range(_RETRIES):
            view = await self.store.ingest_view(device, span)
            if view is None:
                raise AuthError(f"device {device}: not enrolled")
            now = view.device
            if now.revoked:
                return Conflict("the device's token was revoked", "revoked", head_of(now))
            public = self._public(now)  # read with the head: a rekey may have just landed
            checked = await asyncio.to_thread(
                check_batch, batch, device, public, now.head_seq, now.head_hash, view.stored,
                self._verifiers,
            )  # fmt: skip
            appended = None
            if checked.new:
                try:
                    appended = await self.store.append_batch(device, now.head_seq, checked.new)
                except HeadMoved:
                    continue  # another worker appended for this device: check again
                self.size = max(self.size, appended.size)
            head = Head(device, now.head_seq, b64(now.head_hash), now.quarantined)
            if appended is not None:
                head = Head(device, appended.head_seq, b64(appended.head_hash), now.quarantined)
            if (bad := checked.rejection) is not None:
                if relay is not None:
                    by = f"{relay.device} {relay.name}".strip()
                    bad = dataclasses.replace(bad, message=f"{bad.message} (relayed by {by})")
                count = await self.store.quarantine(device, bad, self._clock())
                log_event(
                    _log, "quarantined", logging.WARNING, device=device, reason=bad.reason,
                    seq=bad.seq, rows=count, relay=relay.device if relay else None,
                    error=bad.message,
                )  # fmt: skip
                head = Head(head.device, head.seq, head.hash, count)
                return Conflict(bad.message, bad.reason, head, bad.seq)
            return await self._ack(device, head, last_seq, appended, batch.known_size)
        raise HeadMoved(f"device {device}: head kept moving under {_RETRIES} tries")

    async def _refresh(self) -> None:
        """Read the current epoch from the store: another process may have begun one."""
        epochs = await self.store.epochs()
        epoch, origin = (epochs[-1].epoch, epochs[-1].origin) if epochs else (1, self.base)
        if origin != self.origin:
            self.epoch, self.origin = epoch, origin
            self.log = LogInfo(origin, verifier_key(origin, self._signer.public_key()))

    async def _ack(
        self, device: str, head: Head, last_seq: int, appended: st.Appended | None, known: int
    ) -> BatchAck:
        await self._refresh()
        if appended is not None:
            index, size, root = appended.last_index, appended.size, appended.root
        else:  # the whole batch was a repeat: acknowledge it again in today's tree
            position = await self.store.position(device, last_seq)
            assert position is not None  # last_seq <= head, and receipts are never deleted
            index, size = position.index, await self.store.tree_size()
            root = await st.root(self.store, size)
        if known > size:
            raise BatchInvalid(f"known_size: {known} is beyond the log's size {size}")
        plans = [tlog.plan_inclusion(index, size)]
        if known:
            plans.append(tlog.plan_consistency(known, size))
        inclusion, *consistency = await st.proofs(self.store, *plans)
        note = self._sign(size, root)
        return BatchAck(
            head, note, index, _b64(inclusion), _b64(consistency[0]) if consistency else []
        )

    @property
    def latest_note(self) -> str | None:
        """The newest checkpoint signed (for the marker, sync/cloud/marker.py)."""
        return None if self._note is None else self._note[3]

    def _sign(self, size: int, root: bytes) -> str:
        if self._note is not None and self._note[:3] == (self.origin, size, root):
            return self._note[3]
        note = sign_checkpoint(self._signer, self.origin, self.origin, size, root)
        self._note = (self.origin, size, root, note)
        self.size = max(self.size, size)
        return note

    async def checkpoint(self) -> tuple[int, bytes, str]:
        """Return the log's current size, root and signed checkpoint."""
        await self._refresh()
        size = await self.store.tree_size()
        root = await st.root(self.store, size)
        return size, root, self._sign(size, root)

    async def put_funnel(self, record: DeviceRecord, batch: FunnelBatch) -> FunnelAck:
        """Store a box's funnel minutes (analytics: no proofs, a repeat replaces the minute)."""
        if record.revoked:
            raise AuthError(f"device {record.device}: the token was revoked", 403)
        check_funnel(batch, self._clock())
        return FunnelAck(await self.store.put_funnel(record.device, batch.minutes))

    async def head(self, record: DeviceRecord) -> Head:
        """Return the device's head; AuthError 403 if its token was revoked."""
        if record.revoked:
            raise AuthError(f"device {record.device}: the token was revoked", 403)
        return head_of(record)

    async def key(self, device: str) -> DeviceKeyOut | None:
        """Return the key trusted for a device now (enrolled, or named by its last rekey), or None."""
        record = await self.store.device(device)
        if record is None:
            return None
        from cryptography.hazmat.primitives import serialization

        pem = self._public(record).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return DeviceKeyOut(device, pem.decode("ascii"), record.public_key)

    async def _held(self, device: str, seq: int, digest: str) -> st.LogPosition | None:
        """The stored receipt at (device, seq) if `digest` is its line's; None either way else."""
        position = await self.store.position(device, seq)
        if position is None or not hmac.compare_digest(line_digest(position.line), digest):
            return None
        return position

    async def entry(self, device: str, seq: int, digest: str) -> LogEntry | None:
        """Return where the receipt whose line has `digest` sits, proven in the latest checkpoint."""
        position = await self._held(device, seq, digest)
        if position is None:
            return None
        await self._refresh()
        size = await self.store.tree_size()
        plan = tlog.plan_inclusion(position.index, size)
        ids = list(dict.fromkeys([*plan.subtrees, *tlog.root_subtrees(size)]))
        hashes = await self.store.subtree_hashes(ids)
        note = self._sign(size, tlog.root_from_subtrees(size, hashes))
        proof = _b64(plan.assemble(hashes))
        return LogEntry(device, seq, position.line, position.index, note, proof)

    async def evidence(self, device: str, seq: int, digest: str) -> Evidence | None:
        """Return a sale's payment evidence state; None if the cloud holds no such sale."""
        position = await self._held(device, seq, digest)
        if position is None or position.line.split(";")[6] != "sale":
            return None
        state, at = "unverified", None
        for evidence_seq, line in await self.store.evidence_lines(device, seq):
            ref = line.split(";")[11]
            if ref[1:] == str(seq):  # the pattern's "_" is any letter: check the whole ref
                state, at = ("bank" if ref[0] == "b" else "unmatched"), evidence_seq
        return Evidence(device, seq, state, at)

    async def inclusion(self, index: int, size: int) -> Proof:
        """Return the inclusion proof of leaf `index` in the tree of `size`; LogError if none."""
        await self._check_size(size)
        (proof,) = await st.proofs(self.store, tlog.plan_inclusion(index, size))
        return Proof(_b64(proof))

    async def consistency(self, first: int, size: int) -> Proof:
        """Return the consistency proof from tree size `first` to `size`; LogError if none."""
        await self._check_size(size)
        (proof,) = await st.proofs(self.store, tlog.plan_consistency(first, size))
        return Proof(_b64(proof))

    async def _check_size(self, size: int) -> None:
        current = await self.store.tree_size()
        if size > current:
            raise LogError(f"size: {size} is beyond the log's size {current}")

    async def log_info(self) -> LogInfo:
        """Return the current epoch's origin and verifier key."""
        await self._refresh()
        return self.log

    async def status(self) -> LogStatus:
        """Return the current epoch and every epoch so far (the incidents, announced)."""
        await self._refresh()
        first = Epoch(1, self.base, "", 0, "")
        later = [
            Epoch(e.epoch, e.origin, e.started_at, e.size_at_start, e.reason)
            for e in await self.store.epochs()
        ]
        return LogStatus(self.origin, self.log.verifier_key, self.epoch, [first, *later])

    async def report_checkpoint(self, note: str) -> LogStatus:
        """Take a checkpoint this log signed (a box's); begin a new epoch if it proves a rollback.

        BatchInvalid if the note is not a checkpoint of this log signed by its key. One of the
        current epoch that the store no longer holds (beyond its size, or another root at its
        size) proves the store was rolled back: the epoch is frozen — its origin never signed
        again — and the next begins from what the store holds; the boxes re-send the rest.
        """
        await self._refresh()
        reason = await rollback.judge(self.store, self._signer.public_key(), self.origin, note)
        if reason is not None:
            started = await self.store.start_epoch(
                self.epoch, self.base, self._clock(), reason, note
            )
            if started:
                log_event(
                    _log, "log_rollback", logging.ERROR, frozen=self.origin, epoch=self.epoch + 1,
                    reason=reason,
                )  # fmt: skip
        return await self.status()

    async def reports(self) -> list[DeviceReport]:
        """Return every device as the operator sees it."""
        return [
            DeviceReport(
                r.device,
                r.name,
                r.enrolled_at,
                r.revoked,
                head_of(r),
                r.last_problem,
                r.last_contact,
            )
            for r in await self.store.devices()
        ]
