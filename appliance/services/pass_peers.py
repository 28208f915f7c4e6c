"""Redemptions shared between a creator's boxes at one event, over the LAN.

Peers are found by mDNS (appliance/discovery.py: the attendee plane's URL) and talk plain HTTP
on it, `GET/POST /peer/passes`; what makes a message count is its signature, not the channel
(appliance/passes/peer_message.py: the creator's delegation to the sender's key, same creator,
same event). A peer's redemptions are committed to SQLite before anything counts them.

- Push: right after an order redeems (the attendee route awaits `share`, at most PUSH_WAIT_S),
  and every TICK_S for what a peer has not acknowledged; the peer answers a signed ack.
- Pull (anti-entropy): every TICK_S each peer is asked for its own redemptions past the last
  one held, with a fresh nonce its signed answer must echo; a missed push is repaired here.
- Sight: a peer is in sight while a fresh signed answer (a pull's or an ack) came within
  `[passes] sight_s`; a failed push puts it out of sight at once. With every other box in
  sight a box counts everyone's redemptions against the whole allowance; otherwise it may make
  only its share (`units_left`). Its own redemptions stay marked out of sight until every
  other box has acknowledged them, so a redemption in flight when the LAN went down counts
  against the share too.
- The delegation: `[passes] delegation`, else the one synced from the cloud for this box's key
  (services/own_delegation.py), taken up on the next tick or message once it arrives.
- Over-redemptions are found when a peer's redemptions are stored (pass_overs), shown by
  `GET /api/passes/peers` and shipped to the cloud by the sync daemon (sync/pass_overs.py).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.discovery import Browser, FoundNode, Interfaces
from appliance.ledger.identity import DeviceKey, key_id
from appliance.passes.allowance import units_left
from appliance.passes.errors import PassRefused
from appliance.passes.peer_message import (
    MAX_REDEMPTIONS,
    VERSION,
    Kind,
    PeerMessage,
    PeerRefused,
    PeerTrust,
    WireRedemption,
    b64,
    sign_message,
    sign_redemption,
)
from appliance.passes.settings import PassSettings
from appliance.passes.trust import Signer, TrustStore
from appliance.services import pass_sight
from appliance.services.pass_sight import Peer
from appliance.store import pass_peers as sql
from appliance.store.errors import StoreError
from appliance.store.writer import Writer

log = logging.getLogger(__name__)
PATH = "/peer/passes"
TICK_S = 0.25
PUSH_WAIT_S = 1.0  # an order's push waits at most this long for the peers' acks
TIMEOUT = httpx.Timeout(1.0, connect=0.5)
PUSH_BYTES = 15 * 1024  # the attendee plane takes 16 KiB bodies (api/bounds.py)
MAX_PAGES = 20  # pulled per peer per tick (40 redemptions a page)
MAX_ALLOWANCES = 100_000  # (pass, period) -> allowance remembered for the pushes


class _QuietPeers(logging.Filter):
    """Drops httpx's INFO line per peer request (several a second): failures are logged here."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (record.levelno <= logging.INFO and any(PATH in str(a) for a in args[:2]))


def _quiet_httpx() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _QuietPeers) for f in logger.filters):
        logger.addFilter(_QuietPeers())


@dataclass
class PassPeers:
    """One box's side of the sharing: counts for the pass desk, push, pull, and the peer route."""

    settings: PassSettings
    trust: PeerTrust | None  # None: this box cannot share (no delegation to its key)
    delegation: str  # base64url of the creator's delegation to this box's key
    key: DeviceKey
    writer: Writer
    device_id: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    on_over: Callable[[list[sql.Over]], None] = lambda overs: None
    synced: Callable[[], tuple[Signer, bytes] | None] | None = None  # none configured: the cloud's
    peers: dict[str, Peer] = field(default_factory=dict)  # by node id (mDNS) or URL
    allowances: dict[tuple[str, str], int] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None
    _marked: int = 0  # own redemptions up to this seq are known to be held by every peer

    @property
    def sharing(self) -> bool:
        """Whether this box shares redemptions at all (a delegation, and more than one box)."""
        return self.trust is not None and self.settings.boxes > 1

    def _adopt(self) -> None:
        """Take up (or renew) the delegation synced for this box's key, when one is there."""
        found = None if self.synced is None else self.synced()
        if found is None or b64(found[1]) == self.delegation:
            return
        signer, document = found
        creators = _creator_keys(self.settings)
        self.trust = PeerTrust(TrustStore(creators), signer.issuer, self.settings.event)
        self.delegation = b64(document)
        log.info("passes: sharing redemptions under %s's synced delegation", signer.issuer)

    def _now(self) -> int:
        return int(self.clock().timestamp())

    def in_sight(self) -> bool:
        """Whether every other box of the creator answered within `sight_s`."""
        if self.settings.boxes == 1:
            return True
        if not self.sharing:
            return False
        peers, boxes = self.peers.values(), self.settings.boxes
        return pass_sight.all_in_sight(peers, boxes, self.settings.sight_s, time.monotonic())

    def left(self, conn: sqlite3.Connection, pass_id: str, period: str, allowance: int) -> int:
        """Units of an allowance this box may redeem now (inside the order's transaction)."""
        if len(self.allowances) < MAX_ALLOWANCES:
            self.allowances[(pass_id, period)] = allowance
        known, mine_out = sql.counts(conn, pass_id, period)
        return units_left(
            allowance,
            known,
            mine_out,
            in_sight=self.in_sight(),
            boxes=self.settings.boxes,
            split=self.settings.split,
        )

    def add_peer(self, url: str, *more: str, name: str = "") -> None:
        """Talk to the box at `url` (its attendee plane; or `more` of its addresses) from now on."""
        urls = [u.rstrip("/") for u in (url, *more)]
        peer = self.peers.setdefault(name or urls[0], Peer(urls[0], urls))
        if peer.url not in urls:
            peer.url = urls[0]
        peer.urls = urls

    def _found(self, node: FoundNode) -> None:
        if node.node_id != self.device_id and node.api and node.urls:
            self.add_peer(*node.urls, name=f"node:{node.node_id}")

    def _message(self, kind: Kind, nonce: str, head: int, **extra: object) -> PeerMessage:
        return PeerMessage(
            VERSION, kind.value, self.key.key_id, self.settings.event, self.delegation, nonce,
            head, **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    def _wire(self, rows: list[sql.Row]) -> list[WireRedemption]:
        event = self.settings.event
        return [
            sign_redemption(
                self.key,
                event,
                WireRedemption(r.seq, r.pass_id, r.period, r.units, r.allowance, r.at, ""),
            )
            for r in rows
        ]

    # --- the peer route's side -------------------------------------------------------------

    async def receive(self, raw: bytes) -> bytes:
        """Verify and store a peer's push; the signed ack. PeerRefused, StoreError as they come."""
        self._adopt()
        if self.trust is None:
            raise PeerRefused("this box shares no redemptions (no [passes] delegation)")
        message = self._verify(raw)
        if message.kind != Kind.PUSH:
            raise PeerRefused("kind: a push is expected here")
        try:
            acked, head = await self.writer.run(lambda conn: self._store(conn, message))
        except sqlite3.Error as exc:  # rolled back: nothing of the push is stored or counted
            raise StoreError(f"the peer's redemptions were not stored ({exc})") from None
        return sign_message(self.key, self._message(Kind.ACK, message.nonce, head, acked=acked))

    def _store(self, conn: sqlite3.Connection, message: PeerMessage) -> tuple[int, int]:
        rows = [
            sql.Row(message.sender, r.seq, r.pass_id, r.period, r.units, r.allowance, r.at, r.sig)
            for r in message.redemptions
        ]
        found = sql.store_peer(conn, rows, self.clock().isoformat())
        if found:
            self.on_over(found)
            log.warning("over-redemptions found merging %s: %s", message.sender, found)
        return sql.peer_head(conn, message.sender), sql.own_head(conn)

    async def answer_pull(self, after: int, nonce: str) -> bytes:
        """Our own redemptions past `after`, signed, echoing the asker's nonce."""
        self._adopt()
        if self.trust is None:
            raise PeerRefused("this box shares no redemptions (no [passes] delegation)")

        def read(conn: sqlite3.Connection) -> tuple[list[sql.Row], int]:
            return sql.own_after(conn, after, MAX_REDEMPTIONS), sql.own_head(conn)

        rows, head = await self.writer.read(read)
        return sign_message(
            self.key, self._message(Kind.STATE, nonce, head, redemptions=self._wire(rows))
        )

    # --- this box's side -------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, trust_env=False)
        return self._client

    def _verify(self, raw: bytes, nonce: str | None = None) -> PeerMessage:
        """A peer's verified message; PeerRefused if it does not verify or is our own.

        Our own signed messages are out there (every box we push to, or anyone who pulls from
        us, holds some): played back to us - by a stranger's POST, or by a fake box on the LAN
        answering our pull or push - they would count our redemptions twice and make us take
        ourselves for a peer in sight (docs/security.md, "Neighbours").
        """
        assert self.trust is not None
        message = self.trust.verify(raw, self._now(), nonce).message
        if message.sender == self.key.key_id:
            raise PeerRefused("sender: this box's own key (a message of ours played back)")
        return message

    async def _push(self, peer: Peer) -> None:
        rows = await self.writer.read(lambda conn: sql.own_after(conn, peer.sent, MAX_REDEMPTIONS))
        if not rows or self.trust is None:
            return
        nonce = secrets.token_urlsafe(12)
        while True:  # long event names make long periods: stay under the attendee body limit
            body = sign_message(
                self.key,
                self._message(Kind.PUSH, nonce, rows[-1].seq, redemptions=self._wire(rows)),
            )
            if len(body) <= PUSH_BYTES or len(rows) == 1:
                break
            rows = rows[: len(rows) // 2]
        try:
            answer = await self._http().post(
                peer.url + PATH, content=body, headers={"Content-Type": "application/json"}
            )
            if answer.status_code != 200:
                raise PeerRefused(f"push answered {answer.status_code}: {answer.text[:200]}")
            ack = self._verify(answer.content, nonce)
            if ack.kind != Kind.ACK:
                raise PeerRefused("kind: an ack was expected")
        except (httpx.HTTPError, PeerRefused) as exc:
            pass_sight.lost(peer, str(exc) or type(exc).__name__, at_once=True)
            return
        pass_sight.heard(peer, ack.sender, time.monotonic())
        peer.sent = max(peer.sent, min(ack.acked, rows[-1].seq))

    async def _pull(self, peer: Peer) -> None:
        for _ in range(MAX_PAGES):
            if not await self._pull_page(peer):
                return

    async def _pull_page(self, peer: Peer) -> bool:
        """Ask `peer` for its redemptions past the last held and store them; True if more wait."""
        if self.trust is None:
            return False
        box = peer.box
        after = await self.writer.read(lambda conn: sql.peer_head(conn, box)) if box else 0
        nonce = secrets.token_urlsafe(12)
        try:
            answer = await self._http().get(
                peer.url + PATH, params={"after": str(after), "nonce": nonce}
            )
            if answer.status_code != 200:
                raise PeerRefused(f"pull answered {answer.status_code}: {answer.text[:200]}")
            state = self._verify(answer.content, nonce)
            if state.kind != Kind.STATE:
                raise PeerRefused("kind: a state was expected")
            if box and state.sender != box:
                pass_sight.heard(peer, state.sender, time.monotonic())
                return True  # another box at that address: ask again from its start
            if state.redemptions:
                await self.writer.run(lambda conn: self._store(conn, state))
        except (httpx.HTTPError, PeerRefused, StoreError, sqlite3.Error) as exc:
            pass_sight.lost(peer, str(exc) or type(exc).__name__)
            return False
        pass_sight.heard(peer, state.sender, time.monotonic())
        return bool(state.redemptions) and state.redemptions[-1].seq < state.head

    async def _settle(self) -> None:
        """Mark our redemptions that every other box acknowledged as made in sight."""
        upto = pass_sight.acked_by_all(self.peers.values(), self.settings.boxes)
        if upto <= self._marked:
            return
        await self.writer.run(lambda conn: sql.mark_in_sight(conn, upto))
        self._marked = upto

    async def _fill(self) -> None:
        """Write the allowances the pass desk saw into our rows that lack them (once each)."""
        if not await self.writer.read(sql.lacking_allowance):
            return
        known = dict(self.allowances)
        await self.writer.run(lambda conn: sql.fill_allowances(conn, known))

    async def share(self) -> None:
        """Push our new redemptions to every peer in sight now; return once acked or after
        PUSH_WAIT_S (a peer out of sight gets them from the next tick, not at a phone's cost)."""
        if not self.sharing or not self.peers:
            return
        try:
            async with asyncio.timeout(PUSH_WAIT_S):
                await self._fill()
                now = time.monotonic()  # a peer out of sight gets them from the next tick
                seen = pass_sight.seen(self.peers.values(), self.settings.sight_s, now)
                await asyncio.gather(*(self._push(p) for p in seen))
                await self._settle()
        except TimeoutError:
            log.info("pass peers: a push took over %.1f s", PUSH_WAIT_S)
        except StoreError as exc:
            log.error("pass peers: %s", exc)

    async def _tick(self) -> None:
        self._adopt()
        await self._fill()
        peers = list(self.peers.values())
        await asyncio.gather(*(self._pull(p) for p in peers))
        await asyncio.gather(*(self._push(p) for p in peers))
        await self._settle()

    async def run(self, interfaces: Interfaces | None) -> None:
        """Find peers by mDNS (unless `interfaces` is None) and exchange with them until cancelled."""
        if self.settings.boxes <= 1 or (self.trust is None and self.synced is None):
            return
        browser = Browser(interfaces, on_found=self._found) if interfaces is not None else None
        if browser is not None:
            browser.start()
        try:
            while True:
                try:
                    await self._tick()
                except StoreError as exc:
                    log.error("pass peers: %s", exc)
                await asyncio.sleep(TICK_S)
        finally:
            if browser is not None:
                await browser.close()
            if self._client is not None:
                await self._client.aclose()

    async def status(self) -> tuple[list[Peer], list[sql.Over]]:
        """The peers as known now and the over-redemptions found, for the vendor."""
        self._adopt()
        overs = await self.writer.read(sql.overs)
        return list(self.peers.values()), overs


def _creator_keys(settings: PassSettings) -> dict[str, Ed25519PublicKey]:
    return {iss: Ed25519PublicKey.from_public_bytes(raw) for iss, raw in settings.creators.items()}


def open_peers(
    settings: PassSettings,
    state_dir: Path,
    key: DeviceKey,
    writer: Writer,
    device_id: str,
    clock: Callable[[], datetime],
    synced: Callable[[], tuple[Signer, bytes] | None] | None = None,
) -> PassPeers:
    """The sharing of this box: trusted peers are boxes the same creator delegated (docs)."""
    _quiet_httpx()
    creators = _creator_keys(settings)
    delegation, trust = b"", None
    if settings.delegation:
        try:
            delegation = (state_dir / settings.delegation).read_bytes()
            own = TrustStore(creators).add_delegation(delegation)
        except (OSError, PassRefused) as exc:
            log.warning("passes: no sharing of redemptions: %s", exc)
        else:
            if key_id(own.public) != key.key_id:
                log.warning("passes: the delegation is for another key; no sharing")
            else:
                trust = PeerTrust(TrustStore(creators), own.issuer, settings.event)
    peers = PassPeers(settings, trust, b64(delegation), key, writer, device_id, clock)
    if not settings.delegation:
        peers.synced = synced  # none configured: the one the cloud granted, once synced
        peers._adopt()
    return peers
