"""The console's connection to one node: TLS pinned to its key, kept alive, failures named.

tui/client.py's typed calls go through here. This is the transport half: it proves the node's key
before anything is sent (or takes the on-box Unix socket), keeps the connections alive through
tui/keepalive.py rather than httpx, which the console's process does not load
(docs/performance/2026-12-05-console-start-without-httpx.md), pairs, checks the node's identity,
reads the event stream, and turns every failure into one of tui.errors: NodeUnreachable when the
node did not answer, Refused (or Unauthorized) when it did, KeyChanged when another key answers.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from appliance.api.schemas import IdentityOut, PairResponse, Problem
from appliance.ledger.errors import LedgerError
from appliance.tls_pin import (
    CertificateError,
    certificate_fingerprint,
    fetch_certificate,
    pinned_context,
)
from tui.errors import KeyChanged, NodeUnreachable, Refused, TransportError, Unauthorized
from tui.keepalive import Answer, KeptAlive, Wire
from tui.pairing import UNIX_BASE_URL, pair_async, pair_local, unix_path

if TYPE_CHECKING:  # imported where used: the console's start does without it
    import httpx

T = TypeVar("T")
EVENT_READ_TIMEOUT_S = 40.0  # the node sends a keep-alive every 15 s
EVENT_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """One server-sent event: its kind ("order", "resync") and its JSON data."""

    kind: str
    data: Mapping[str, Any]


class NodeConnection:
    """One node's operator plane, reached over TLS pinned to the node's key.

    Nothing is sent before the handshake has proven the pinned key: `connect()` first makes a
    credential-less handshake to learn which certificate the node shows, compares its key's
    fingerprint with `pin` (a mismatch raises KeyChanged, never a fallback), and then talks
    only through a context whose one trust anchor is that certificate, so any later connection
    to another key fails in the handshake. With no pin yet (first pairing) the key shown is
    the one used, and `peer_fingerprint` says which it was so pairing can bind to it. A
    `unix:/path` node (the on-box console) is reached over its socket with no TLS at all: the
    socket's file mode and peer credentials are the proof.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        pin: str | None = None,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.pin = pin
        self.timeout_s = timeout_s
        self.peer_fingerprint: str | None = None  # what the TLS handshake proved
        self._transport = transport  # a test seam (httpx.MockTransport); no TLS then
        self._http: Wire | None = None
        self.token = token  # sent with every call but the identity challenge

    def _auth(self) -> dict[str, str]:
        """The token's header (none before pairing)."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def connect(self) -> str | None:
        """Prove the node's key (TLS) before anything is sent; return its fingerprint."""
        if self._http is not None:
            return self.peer_fingerprint
        socket_path = unix_path(self.base_url)
        http: Wire
        if self._transport is not None:  # a test seam: the pin stands for the handshake's key
            from tui.httpx_wire import HttpxWire

            base = UNIX_BASE_URL if socket_path is not None else self.base_url
            http = HttpxWire(base, self._transport, self.timeout_s)
            self.peer_fingerprint = self.pin
        elif socket_path is not None:  # the on-box console: no network, the socket is the proof
            http = KeptAlive(UNIX_BASE_URL, socket_path=socket_path, timeout_s=self.timeout_s)
        else:
            http = KeptAlive(self.base_url, tls=await self._probe(), timeout_s=self.timeout_s)
        self._http = http
        return self.peer_fingerprint

    async def _probe(self) -> ssl.SSLContext:
        """A context trusting only the certificate the node shows, once checked against the pin."""
        where = urlsplit(self.base_url)
        if where.scheme != "https" or not where.hostname:
            raise Refused(
                0,
                f"{self.base_url}: the operator plane is TLS only; use the node's https:// "
                "operator URL (printed by `stallbox node`, shown by `stallbox discover`)",
                "node",
            )
        try:
            der = await fetch_certificate(where.hostname, where.port or 443, self.timeout_s)
            shown = certificate_fingerprint(der)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise NodeUnreachable(f"node at {self.base_url} did not answer ({exc!r})") from exc
        except CertificateError as exc:
            raise Refused(0, f"the node at {self.base_url} shows no device key: {exc}") from exc
        if self.pin is not None and shown != self.pin:
            raise KeyChanged(self.base_url, self.pin, shown)
        try:
            pinned = pinned_context(der)
        except ssl.SSLError as exc:  # a key we could read in a certificate OpenSSL cannot
            raise Refused(0, f"the node at {self.base_url} shows no device key: {exc}") from exc
        self.peer_fingerprint = shown
        return pinned

    async def close(self) -> None:
        """Close the kept connections."""
        if self._http is not None:
            await self._http.aclose()

    async def _client(self) -> Wire:
        await self.connect()
        assert self._http is not None
        return self._http

    async def _call(self, method: str, path: str, body: Any = None) -> Answer:
        http = await self._client()
        content = b"" if body is None else msgspec.json.encode(body)
        try:
            answer = await http.request(method, path, content, self._auth())
        except TransportError as exc:
            await self._recheck(exc)
            raise NodeUnreachable(f"node at {self.base_url} did not answer ({exc!r})") from exc
        if answer.status_code >= 400:
            raise _refusal(answer)
        return answer

    async def _recheck(self, exc: Exception) -> None:
        """After a failed handshake on a kept connection: another key now answers? Say so."""
        if not _verify_failed(exc) or self._transport is not None:
            return
        pin = self.pin or self.peer_fingerprint
        await self.close()
        self._http = None
        probe = NodeConnection(self.base_url, pin=pin, timeout_s=self.timeout_s)
        await probe.connect()  # raises KeyChanged when the key differs
        await probe.close()

    async def _typed(self, kind: type[T], method: str, path: str, body: Any = None) -> T:
        answer = await self._call(method, path, body)
        try:
            return msgspec.json.decode(answer.content, type=kind)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise Refused(answer.status_code, f"unexpected answer from {path}: {exc}") from exc

    @property
    def on_box(self) -> bool:
        """True when this client talks to the node over its Unix socket."""
        return unix_path(self.base_url) is not None

    async def pair(self, code: str, name: str) -> PairResponse:
        """Run the PAKE over `code`, bound to the key the TLS handshake proved; keep the token.

        The node confirms over its own key and we over the one we saw: a proxy holding another
        key fails the confirmation, and the token (sealed under the PAKE key) never opens.
        """
        http = await self._client()
        if self.peer_fingerprint is None:
            raise Refused(0, "no key proven by a TLS handshake to bind the pairing to", "node")
        paired = await pair_async(http, code, name, self.peer_fingerprint)
        self.token = paired.token
        return paired

    async def pair_local(self, name: str) -> PairResponse:
        """Pair over the node's Unix socket with no code; remember the token."""
        paired = await pair_local(await self._client(), name)
        self.token = paired.token
        return paired

    async def identity(self) -> IdentityOut:
        """The node's key, proven by the handshake and by its signature over a fresh challenge.

        Refused when either proof fails (a 404 or 500 included: a node with an operator plane
        always answers): whoever answers does not hold the key it names, as loud as a change.
        The challenge goes without the token.
        """
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from appliance.ledger.identity import fingerprint, identity_proven
        from appliance.ledger.receipt import b64, unb64

        http = await self._client()
        challenge = os.urandom(32)
        path = f"/api/identity?challenge={b64(challenge)}"
        try:  # the challenge never carries the token
            answer = await http.request("GET", path)
        except TransportError as exc:
            await self._recheck(exc)
            raise NodeUnreachable(f"node at {self.base_url} did not answer ({exc!r})") from exc
        if answer.status_code != 200:
            raise Refused(
                200, f"the node did not prove its key (HTTP {answer.status_code} to the challenge)"
            )
        try:
            shown = msgspec.json.decode(answer.content, type=IdentityOut)
            public = Ed25519PublicKey.from_public_bytes(unb64(shown.public_key, 32, "public_key"))
            signature = unb64(shown.signature, 64, "signature")
        except (msgspec.DecodeError, LedgerError) as exc:
            raise Refused(200, f"the node's identity is malformed: {exc}") from None
        if (
            fingerprint(public) != shown.fingerprint
            or not identity_proven(public, challenge, signature)
            or (self.peer_fingerprint is not None and shown.fingerprint != self.peer_fingerprint)
        ):
            raise Refused(200, "the node could not prove it holds the key it names")
        return shown

    async def events(self) -> AsyncIterator[NodeEvent]:
        """Server-sent events until the stream ends; raises NodeUnreachable when it breaks."""
        http = await self._client()
        headers = {"Accept": "text/event-stream", **self._auth()}
        try:  # on a connection of its own, kept open while the node streams
            stream = await http.stream("/api/events", headers, EVENT_CONNECT_TIMEOUT_S)
            try:
                if stream.status_code >= 400:
                    body = await stream.read_all(EVENT_CONNECT_TIMEOUT_S)
                    raise _refusal(Answer(stream.status_code, body))
                kind, data = "message", ""
                async for line in stream.lines(EVENT_READ_TIMEOUT_S):
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        yield NodeEvent(kind, _json_object(data))
                        kind, data = "message", ""
            finally:
                stream.close()
        except TransportError as exc:
            await self._recheck(exc)
            raise NodeUnreachable(f"event stream from {self.base_url} broke ({exc!r})") from exc


def _verify_failed(exc: BaseException) -> bool:
    """Whether a transport error was a certificate that did not verify (another key)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _json_object(text: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(answer: Answer) -> Refused:
    try:
        problem = msgspec.json.decode(answer.content, type=Problem)
        error, where = problem.error, problem.field
    except msgspec.DecodeError:
        error, where = f"HTTP {answer.status_code}", None
    if answer.status_code == 401:
        return Unauthorized(401, error, where)
    return Refused(answer.status_code, error, where)
