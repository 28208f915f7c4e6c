"""The store-and-forward daemon: every receipt reaches the cloud once in effect, in order, proven.

One loop, one batch at a time: read the receipts past `acked_seq` from the node's database (its
own connection), POST them, and only when the cloud's answer proves it kept them — a signed
checkpoint, the inclusion of the batch's last line (each line carries the hash of the one
before, so the last commits to all of them) and the consistency of that checkpoint with the last
one we verified — store the new `acked_seq` and checkpoint in one BEGIN IMMEDIATE.

Nothing here ever deletes or rewrites a local receipt. A 409 (the cloud holds a different chain,
or refused a line) or a proof that fails stops the stream and says why in `sync_state`, for the
operator to see on the console; everything transient (no link, timeouts, 5xx, 429) is retried
with full-jitter backoff (base 1 s, cap 300 s), honouring Retry-After, and at once when the
kernel reports a link change.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import msgspec

from appliance.ledger.wire import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECEIPTS,
    VERSION,
    Batch,
    BatchAck,
    Conflict,
    Head,
    WireReceipt,
    encode,
)
from appliance.services.cloud_account import CloudAccount
from appliance.store import syncstate
from sync import epoch, pass_overs
from sync.backoff import Backoff, Retry, retry_after, transient, wait_any
from sync.checkpoint import Checkpoint, parse_verifier_key, verify_checkpoint
from sync.errors import NoteError, ProofError
from sync.flag_bundles import FlagBundles
from sync.funnel import FunnelShipper
from sync.pass_trust import PassTrust
from sync.peer_state import PeerState
from sync.relay import Forwarder, Peer, PeerLink, Peers
from sync.tlog import leaf_hash, verify_consistency, verify_inclusion

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
_PREV_FIELD = 10  # index of `prev` in an SR1 line split on ";"
_NOT_NOTED = datetime.min.replace(tzinfo=UTC)  # no hold written yet by this run: write one


class _ProofFailed(Exception):
    """The cloud's own answer failed the proof check (not a peer's)."""


class Outcome(enum.Enum):
    """What one step of the loop did."""

    SENT = "sent"  # a batch was acknowledged and proven
    IDLE = "idle"  # nothing to send
    PAUSED = "paused"  # a drop is on: checkout traffic first
    STOPPED = "stopped"  # the operator must look (a 409 or a bad proof)
    WAITING = "waiting"  # a peer holds our batch: its proof comes back through it


@dataclass(frozen=True, slots=True)
class Limits:
    """How much the daemon sends at once and how it yields to checkout traffic."""

    batch_receipts: int = MAX_BATCH_RECEIPTS
    batch_bytes: int = MAX_BATCH_BYTES
    upload_cap: int = 0  # bytes per second; 0 for no cap
    rush: timedelta = timedelta(seconds=120)  # pause this long after a drop starts; 0: never
    idle_poll_s: float = 0.5
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    heartbeat_s: float = 20.0  # when idle, ask the cloud our head this often (the uplink flag)
    direct_retry_s: float = 30.0  # once relaying through a peer, try the cloud again after this
    shun_peer_s: float = 300.0  # leave a peer alone this long after it passed on a refusal
    rehand_s: float = 30.0  # hand a peer the same batch again when no answer came this long
    peer_patience_s: float = 300.0  # a peer that brings no answer this long is left alone


def _unb64(values: list[str]) -> list[bytes]:
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except ValueError as exc:
        raise ProofError(f"proof element is not base64 ({exc})") from None


class Daemon:
    """Ships one device's outbox to one cloud (directly, or through a relay that speaks the same)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        account: CloudAccount,
        client: httpx.AsyncClient,
        limits: Limits = Limits(),
        *,
        via: str = "cloud",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        peers: Peers | None = None,
        forwarder: Forwarder | None = None,
        save_account: Callable[[CloudAccount], object] | None = None,
        pass_trust: PassTrust | None = None,
    ) -> None:
        self.conn = conn
        self.account = account
        self.client = client
        self.limits = limits
        self.via = via
        self.clock = clock
        self.verifier = parse_verifier_key(account.verifier_key)
        self.backoff = Backoff(limits.backoff_base_s, limits.backoff_cap_s, rng or random.Random())
        self.funnel = FunnelShipper(conn, account, client, clock)
        self.flags = FlagBundles(conn, account, client, limits.heartbeat_s or 30.0)  # issue 20
        self._headers = {"Authorization": f"Bearer {account.api_token}"}
        self._url = f"{account.url.rstrip('/')}/v1/devices/{account.device}/receipts"
        self.peers = peers  # where to relay through when the cloud is out of reach
        self.relay: PeerState | None = None  # whom we relay through (sync/peer_state.py)
        if peers is not None:
            link = PeerLink(client, account.device)
            self.relay = PeerState(conn, peers, link, lambda: self.limits, self._pace)
        self.forwarder = forwarder  # what we relay for others, once our own outbox is empty
        self._heard = 0.0  # monotonic time of the last heartbeat
        self._next_send = 0.0  # monotonic time the upload cap allows the next batch
        self._save_account = save_account  # keeps a new epoch of the cloud's log (cloud.json)
        self.pass_trust = pass_trust  # creators' revocation lists and delegations (pass_trust.py)
        self._paused_until: datetime | None = _NOT_NOTED  # the hold last written to sync_state

    def _known(self, state: syncstate.SyncState) -> Checkpoint | None:
        if state.checkpoint is None:
            return None
        return verify_checkpoint(state.checkpoint, self.verifier, origin=self.account.origin)

    async def step(self) -> Outcome:
        """Send one batch if there is one; Retry on a transient failure."""
        state = syncstate.read_state(self.conn)
        if state.stopped is not None:
            return Outcome.STOPPED
        if self._rush():
            return Outcome.PAUSED
        batch = syncstate.pending(
            self.conn, state.acked_seq, self.limits.batch_receipts, self.limits.batch_bytes
        )
        if not batch:
            return await self._idle()
        known = self._known(state)
        body = self._body(batch, known)
        while len(body) > self.limits.batch_bytes and len(batch) > 1:
            batch = batch[: len(batch) // 2]  # the estimate was short (escaped JSON): halve it
            body = self._body(batch, known)
        if self.relay is not None and (peer := await self.relay.next_peer()) is not None:
            return await self._via_peer(peer, state.acked_seq, body, known)
        await self._pace(len(body))
        try:
            response = await self.client.post(
                self._url, content=body, headers=self._headers, timeout=TIMEOUT
            )
        except httpx.TransportError as exc:
            why = f"cannot reach the cloud: {type(exc).__name__}: {exc}"
            peer = await self.relay.fall_back() if self.relay is not None else None
            if peer is None:
                raise Retry(why) from None
            log.info("%s; relaying through peer %s", why, peer.name)
            return await self._via_peer(peer, state.acked_seq, body, known)
        status = response.status_code
        if status == 200:
            try:
                return self._accept(response.content, batch[-1], known)
            except _ProofFailed as exc:
                if await self._new_epoch(state, None):  # a rolled-back cloud, now a new epoch
                    return Outcome.SENT
                self._stop(str(exc), None)  # the cloud may be lying: make the operator look
                return Outcome.STOPPED
        if status == 400 and '"known_size:' in response.text and await self._new_epoch(state, None):
            return Outcome.SENT  # it no longer reached our checkpoint: rolled back, a new epoch
        if status == 409:
            conflict = msgspec.json.decode(response.content, type=Conflict)
            if conflict.head.seq < state.acked_seq and await self._new_epoch(
                state, conflict.head.seq
            ):  # it lost receipts it had proven it kept: a restored backup, now a new epoch
                return Outcome.SENT
            reason = (
                f"the cloud refused seq {conflict.seq} ({conflict.reason}: {conflict.error}); "
                f"its head for this device is seq {conflict.head.seq}"
            )
            self._stop(reason, conflict.head.seq)
            return Outcome.STOPPED
        if transient(status):
            raise Retry(f"the cloud answered {status}", retry_after(response))
        if status in (401, 403):
            self._stop(f"the cloud refused our token ({status}); enrol the box again", None)
            return Outcome.STOPPED
        self._stop(f"the cloud answered {status}: {response.text[:200]}", None)
        return Outcome.STOPPED

    def _rush(self) -> bool:
        """Whether a drop's rush holds uploads; says so in sync_state when that changes."""
        now = self.clock()
        until = syncstate.rush_until(self.conn, now, self.limits.rush) if self.limits.rush else None
        if until != self._paused_until:
            syncstate.record_pause(self.conn, "drop" if until else None, until, now)
            if until is not None:
                log.info("a drop's rush: uploads held until %s", until.isoformat())
            self._paused_until = until
        return until is not None

    def _body(self, batch: list[syncstate.Pending], known: Checkpoint | None) -> bytes:
        return encode(
            Batch(
                v=VERSION,
                from_seq=batch[0].seq,
                prev_hash=batch[0].line.split(";")[_PREV_FIELD],
                receipts=[WireReceipt(r.seq, r.line, r.items) for r in batch],
                known_size=known.size if known else 0,
            )
        )

    async def _pace(self, size: int) -> None:
        """Keep under the upload cap: wait out the previous batch's share, then book this one's."""
        if not self.limits.upload_cap:
            return
        now = time.monotonic()
        if self._next_send > now:
            await asyncio.sleep(self._next_send - now)
            now = self._next_send
        self._next_send = now + size / self.limits.upload_cap

    async def _idle(self) -> Outcome:
        """Nothing of ours to send: forward what peers handed us, keep the uplink flag true."""
        if self.forwarder is not None and await self.forwarder.step():
            return Outcome.SENT
        now = time.monotonic()
        if self.limits.heartbeat_s and now - self._heard >= self.limits.heartbeat_s:
            self._heard = now
            if await self._heartbeat():
                return Outcome.SENT  # a new epoch of the cloud's log: there is sending to do
            if self.pass_trust is not None:
                await self.pass_trust.step()
        return Outcome.IDLE

    async def _heartbeat(self) -> bool:
        """Ask the cloud our head: an answer is a direct contact (uplink=yes in our TXT).

        True if the head was behind acked_seq and the cloud's log began a new epoch.
        """
        url = f"{self.account.url.rstrip('/')}/v1/devices/{self.account.device}/head"
        try:
            response = await self.client.get(url, headers=self._headers, timeout=TIMEOUT)
            if response.status_code != 200:
                return False
            head = msgspec.json.decode(response.content, type=Head)
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            log.debug("heartbeat: %s", exc)
            return False
        syncstate.record_contact(self.conn, head.seq, "cloud", self.clock())
        if self.relay is not None:
            self.relay.try_direct()  # the cloud answered: try it directly again
        state = syncstate.read_state(self.conn)
        # it forgot what it acknowledged: a restored backup?
        return head.seq < state.acked_seq and await self._new_epoch(state, head.seq)

    async def _new_epoch(self, state: syncstate.SyncState, cloud_seq: int | None) -> bool:
        """Show the cloud our checkpoint; if its log began a new epoch, move to it (sync/epoch.py).

        True once the account names the new epoch and acked_seq is back at the cloud's head, so
        the next steps send again what the restored cloud lost and prove it in the new epoch.
        """
        moved = await epoch.recover(self.client, self.account, state.checkpoint, cloud_seq)
        if moved is None:
            return False
        newer, cloud_seq, text = moved
        if self._save_account is not None:
            self._save_account(newer)
        self.account, self.verifier = newer, parse_verifier_key(newer.verifier_key)
        syncstate.record_new_epoch(self.conn, cloud_seq, text, self.clock())
        return True

    async def _via_peer(
        self, peer: Peer, acked_seq: int, body: bytes, known: Checkpoint | None
    ) -> Outcome:
        """Relay through `peer` (sync/peer_state.py); prove its answer as a direct one."""
        assert self.relay is not None
        relayed = await self.relay.relay(peer, acked_seq, body, known.size if known else 0)
        if relayed is None:
            return Outcome.WAITING  # a peer holds our batch: its proof comes back through it
        return self._accept(relayed.body, relayed.last, known, relayed=peer)

    def _accept(
        self,
        content: bytes,
        last: syncstate.Pending,
        known: Checkpoint | None,
        *,
        relayed: Peer | None = None,
    ) -> Outcome:
        try:
            ack = msgspec.json.decode(content, type=BatchAck)
            checkpoint = verify_checkpoint(
                ack.checkpoint, self.verifier, origin=self.account.origin
            )
            if ack.head.seq < last.seq:
                raise ProofError(f"the cloud acknowledged seq {ack.head.seq}, we sent {last.seq}")
            verify_inclusion(
                leaf_hash(last.line.encode("ascii")),
                ack.last_index,
                checkpoint.size,
                _unb64(ack.inclusion),
                checkpoint.root_hash,
            )
            if known is not None:
                verify_consistency(
                    known.size,
                    checkpoint.size,
                    _unb64(ack.consistency),
                    known.root_hash,
                    checkpoint.root_hash,
                )
        except (msgspec.DecodeError, NoteError, ProofError) as exc:
            if relayed is not None:
                # A peer may replay genuine notes with the wrong proofs: blame it, not the cloud.
                assert self.relay is not None
                self.relay.blame(relayed)
                raise Retry(f"peer {relayed.name}'s answer failed the proof check: {exc}") from None
            # The cloud may be lying: never advance past it (the caller stops, or finds a
            # rolled-back log that began a new epoch).
            raise _ProofFailed(f"the cloud's proof failed: {exc}") from None
        via = self.via if relayed is None else f"peer {relayed.name}"
        syncstate.record_ack(
            self.conn, last.seq, ack.checkpoint, checkpoint.size, via, self.clock()
        )
        return Outcome.SENT

    def _stop(self, reason: str, cloud_seq: int | None) -> None:
        log.error("sync stopped: %s", reason)
        syncstate.record_stop(self.conn, reason, cloud_seq, self.clock())

    async def run(self, stop: asyncio.Event, link: asyncio.Event | None = None) -> None:
        """Loop until `stop` is set: send, idle, pause or back off."""
        link = link or asyncio.Event()
        while not stop.is_set():
            try:
                outcome = await self.step()
            except Retry as exc:
                delay = self.backoff.next_delay(exc.after)
                log.warning("%s; retrying in %.1f s", exc, delay)
                syncstate.record_error(self.conn, str(exc), self.clock())
                link.clear()
                if await wait_any(delay, stop, link) is link:
                    log.info("link changed: retrying now")
                    self.backoff.reset()
                    if self.relay is not None:
                        self.relay.try_direct()
                continue
            except msgspec.DecodeError as exc:
                self._stop(f"the cloud's answer is malformed: {exc}", None)
                continue
            if outcome is Outcome.SENT:
                self.backoff.reset()
                continue
            if outcome is Outcome.IDLE:
                await self.funnel.ship()  # analytics only once every receipt is in
                await self.flags.step()  # the event's flag bundle down, canary decisions up
                await pass_overs.ship(self.conn, self.account, self.client)  # docs/passes.md
            quick = outcome in (Outcome.IDLE, Outcome.WAITING)
            pause = self.limits.idle_poll_s if quick else 1.0
            await wait_any(pause, stop)


def status_line(conn: sqlite3.Connection, now: datetime | None = None) -> str:
    """Return the one-line state systemd shows: outbox depth, acked seq, stop or last error."""
    from appliance.store.ledger import outbox

    depth, _ = outbox(conn)
    state = syncstate.read_state(conn)
    if state.stopped:
        return f"STOPPED: {state.stopped[:120]}; outbox {depth}"
    incident = "; CLOUD INCIDENT: its log was rolled back" if state.incident else ""
    pause = syncstate.active_pause(state, now or datetime.now(UTC))
    if pause is not None:
        incident += f"; paused for the {pause[0]} until {pause[1]} (resumes by itself)"
    return f"outbox {depth}, acked seq {state.acked_seq}{incident}" + (
        f"; last error: {state.last_error[:80]}" if state.last_error else ""
    )
