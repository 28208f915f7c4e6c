"""Peer relay: a box without an uplink ships its batches through a neighbour that has one.

Two halves, both run by `stallbox sync`:

* the origin's (`Peers`, `PeerLink`): find a peer whose node says uplink=yes (over mDNS, or from
  $STALLBOX_RELAY_PEERS), talk to its operator plane only over TLS pinned to the key
  fingerprint it advertises (a handshake with another key is a failed peer, nothing sent),
  check over `GET /relay/v1/info` that it is enrolled with *our* cloud (same log origin) and
  is not ourselves, hand it the very batch we would have POSTed to the cloud, and fetch the
  cloud's answer from it later. The daemon verifies that answer exactly as a direct one
  (sync/daemon.py); the peer never sees our token;
* the peer's (`Forwarder`): once its own outbox is empty, POST the oldest queued batch,
  unchanged, to the cloud's `/v1/relay/devices/{origin}/receipts` with the peer's *own* token,
  and store the cloud's answer unchanged for the origin to fetch.

Nothing a peer says is trusted: its answers are proofs we check, and a refusal it passes on
only makes us stop using it for a while, never stops our stream (it could be made up).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import msgspec

from appliance.discovery import Browser
from appliance.ledger.wire import RelayAnswer, RelayInfo, RelayQueued
from appliance.services.cloud_account import CloudAccount
from appliance.store import relay as relay_sql
from sync.backoff import Retry, retry_after, transient

log = logging.getLogger(__name__)

PEERS_ENV = "STALLBOX_RELAY_PEERS"  # comma-separated https://HOST:PORT#SHA256:... to try too
LAN_TIMEOUT = httpx.Timeout(connect=2.0, read=10.0, write=10.0, pool=2.0)
CLOUD_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
RECHECK_S = 15.0  # re-ask the chosen peer's /relay/v1/info this often
SHUN_S = 60.0  # leave a peer alone this long after it failed us


class PeerFailed(Exception):
    """The peer could not be reached or answered nonsense: try again later or elsewhere."""


@dataclass(frozen=True, slots=True)
class Peer:
    """A neighbouring node that said it has an uplink to our cloud."""

    name: str
    url: str
    device: str
    client: httpx.AsyncClient | None = field(default=None, compare=False, repr=False)


Connect = Callable[[str, str], Awaitable[httpx.AsyncClient]]  # (url, fingerprint) -> client


def explicit_peers() -> list[str]:
    """The peers from $STALLBOX_RELAY_PEERS (comma-separated URL#FINGERPRINT), if any."""
    return [u.strip().rstrip("/") for u in os.environ.get(PEERS_ENV, "").split(",") if u.strip()]


async def pinned_peer(url: str, pin: str) -> httpx.AsyncClient:
    """A client for a peer's operator plane whose only trust anchor is the pinned key's cert."""
    from appliance.tls import (
        CertificateError,
        certificate_fingerprint,
        fetch_certificate,
        pinned_context,
    )

    where = urlsplit(url)
    if where.scheme != "https" or not where.hostname or not pin:
        raise PeerFailed(f"peer {url}: not an https:// operator URL with a key fingerprint")
    try:
        der = await fetch_certificate(where.hostname, where.port or 443, LAN_TIMEOUT.connect or 2)
        shown = certificate_fingerprint(der)
    except (OSError, TimeoutError, CertificateError) as exc:
        raise PeerFailed(f"peer {url}: {type(exc).__name__}: {exc}") from None
    if shown != pin:
        raise PeerFailed(f"peer {url} proved key {shown}, not the advertised {pin}")
    return httpx.AsyncClient(verify=pinned_context(der))


class Peers:
    """Picks the peer to relay through, and remembers which ones failed us."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        account: CloudAccount,
        *,
        urls: Sequence[str] = (),
        browser: Browser | None = None,
        clock: Callable[[], float] = time.monotonic,
        connect: Connect = pinned_peer,
    ) -> None:
        self.client = client
        self.account = account
        self.urls = list(urls)
        self.browser = browser
        self.clock = clock
        self.connect = connect  # tests hand in their own transport; the box pins over TLS
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}
        self._current: Peer | None = None
        self._checked = 0.0
        self._shunned: dict[str, float] = {}

    async def _candidates(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if self.browser is not None:
            for node in await self.browser.nodes():
                if node.uplink and node.node_id != self.account.device:
                    found.extend((url, node.fingerprint) for url in node.operator_urls)
        for entry in self.urls:
            url, _, pin = entry.partition("#")
            found.append((url.rstrip("/"), pin))
        now = self.clock()
        return [c for c in dict.fromkeys(found) if self._shunned.get(c[0], 0.0) <= now]

    async def _client(self, url: str, pin: str) -> httpx.AsyncClient | None:
        client = self._clients.get((url, pin))
        if client is None:
            try:
                client = self._clients[(url, pin)] = await self.connect(url, pin)
            except PeerFailed as exc:
                log.info("%s", exc)
                self.shun(url)
                return None
        return client

    async def close(self) -> None:
        """Close the pinned clients of every peer tried."""
        for client in self._clients.values():
            if client is not self.client:
                await client.aclose()
        self._clients.clear()

    async def info(self, url: str, client: httpx.AsyncClient | None = None) -> RelayInfo | None:
        """Ask a node who it is; None if it does not answer sensibly."""
        client = client or self.client
        try:
            answer = await client.get(f"{url}/relay/v1/info", timeout=LAN_TIMEOUT)
            if answer.status_code != 200:
                return None
            return msgspec.json.decode(answer.content, type=RelayInfo)
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            log.debug("peer %s: %s", url, exc)
            return None

    async def pick(self) -> Peer | None:
        """Return a peer that has an uplink to our cloud now, or None."""
        now = self.clock()
        if self._current is not None and now - self._checked < RECHECK_S:
            return self._current
        self._current = None
        for url, pin in await self._candidates():
            client = await self._client(url, pin)
            if client is None:
                continue
            info = await self.info(url, client)
            if info is None or not info.uplink or info.device == self.account.device:
                continue
            if info.origin != self.account.origin:
                log.info("peer %s is enrolled with another cloud (%s)", url, info.origin or "none")
                self.shun(url)
                continue
            self._current, self._checked = Peer(info.name or url, url, info.device, client), now
            return self._current
        return None

    def shun(self, url: str, seconds: float = SHUN_S) -> None:
        """Leave this peer alone for a while (it failed, refused, or passed on a refusal)."""
        self._shunned[url] = self.clock() + seconds
        if self._current is not None and self._current.url == url:
            self._current = None


class PeerLink:
    """The origin's two requests to a peer's node: hand over a batch, fetch the answers."""

    def __init__(self, client: httpx.AsyncClient, device: str) -> None:
        self.client = client
        self.device = device

    async def hand(self, peer: Peer, body: bytes) -> RelayQueued:
        """Give the peer our batch, as we would have POSTed it to the cloud."""
        try:
            answer = await (peer.client or self.client).post(
                f"{peer.url}/relay/v1/devices/{self.device}/batches",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=LAN_TIMEOUT,
            )
            if answer.status_code != 202:
                raise PeerFailed(
                    f"peer {peer.name} answered {answer.status_code}: {answer.text[:200]}"
                )
            return msgspec.json.decode(answer.content, type=RelayQueued)
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            raise PeerFailed(f"peer {peer.name}: {type(exc).__name__}: {exc}") from None

    async def answers(self, peer: Peer, after_seq: int, known: int) -> list[RelayAnswer]:
        """The cloud's answers to our batches that end after `after_seq` and were built on tree
        size `known` (ours: others' in our name do not crowd them out), newest first."""
        try:
            answer = await (peer.client or self.client).get(
                f"{peer.url}/relay/v1/devices/{self.device}/acks",
                params={"after": str(after_seq), "known": str(known)},
                timeout=LAN_TIMEOUT,
            )
            if answer.status_code != 200:
                raise PeerFailed(
                    f"peer {peer.name} answered {answer.status_code}: {answer.text[:200]}"
                )
            return msgspec.json.decode(answer.content, type=list[RelayAnswer])
        except (httpx.HTTPError, msgspec.DecodeError) as exc:
            raise PeerFailed(f"peer {peer.name}: {type(exc).__name__}: {exc}") from None


class Forwarder:
    """The peer's half: forward queued batches to the cloud with our own token, keep the answers."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        account: CloudAccount,
        client: httpx.AsyncClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.conn = conn
        self.client = client
        self.clock = clock
        self._headers = {
            "Authorization": f"Bearer {account.api_token}",
            "Content-Type": "application/json",
        }
        self._base = f"{account.url.rstrip('/')}/v1/relay/devices"

    async def step(self) -> bool:
        """Forward the oldest queued batch; False if none waits; Retry on a transient failure."""
        queued = relay_sql.next_queued(self.conn)
        if queued is None:
            return False
        try:
            response = await self.client.post(
                f"{self._base}/{queued.origin}/receipts",
                content=queued.body,
                headers=self._headers,
                timeout=CLOUD_TIMEOUT,
            )
        except httpx.TransportError as exc:
            raise Retry(f"cannot reach the cloud to relay: {exc!r}") from None
        status = response.status_code
        if transient(status):
            raise Retry(f"the cloud answered {status} to a relayed batch", retry_after(response))
        now = self.clock()
        relay_sql.record_answer(self.conn, queued.id, status, response.text, now)
        relay_sql.record_cloud_contact(self.conn, now)
        log.info("relayed a batch of %s: the cloud answered %d", queued.origin, status)
        return True
