"""The console's one way to the node: kept-alive connections, typed results, SSE.

One client for the whole session, its connections kept alive (DESIGN §6: a new connection per
request costs a TLS handshake), through tui/keepalive.py rather than httpx, which the console's
process does not load (docs/performance.md, "The console's start without httpx"). Answers are
decoded strictly into the API's own msgspec types, so a node speaking a different API is a clear
error, not a KeyError three screens later. Every failure becomes one
of tui.errors: NodeUnreachable when the node did not answer, Refused (or Unauthorized) when it did.
"""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

import msgspec

from appliance.api.bank_schemas import BankOut
from appliance.api.flags_schemas import FlagsOut
from appliance.api.pass_peers_schemas import PassPeersOut
from appliance.api.pass_schemas import IssuedPassOut, PassOut
from appliance.api.schemas import (
    ConfirmOut,
    DecisionOut,
    DropOut,
    IdentityOut,
    ItemOut,
    OrderOut,
    PairResponse,
    Problem,
    ReceiptOut,
    StatsOut,
    SyncOut,
    TenderOut,
)
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

if TYPE_CHECKING:  # imported where used: the console's start does without them
    import httpx

    from appliance.api.season_schemas import ClockOut
    from appliance.domain.close import CloseReport

T = TypeVar("T")
EVENT_READ_TIMEOUT_S = 40.0  # the node sends a keep-alive every 15 s
EVENT_CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class NodeEvent:
    """One server-sent event: its kind ("order", "resync") and its JSON data."""

    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MetricsView:
    """What the numbers screen needs from /metrics."""

    conversion_p50_s: float | None = None
    conversion_p90_s: float | None = None
    confirmations: dict[tuple[str, str], int] = field(default_factory=dict)  # (rail, verdict)


class NodeClient:
    """Typed calls to one node's operator API, over TLS pinned to the node's key.

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
        self._tenders: list[str] | None = None
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
        probe = NodeClient(self.base_url, pin=pin, timeout_s=self.timeout_s)
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

    async def catalog(self) -> list[ItemOut]:
        """The catalogue with stock."""
        return await self._typed(list[ItemOut], "GET", "/api/catalog")

    async def orders(self, state: str = "awaiting_payment") -> list[OrderOut]:
        """Orders in one state, oldest first."""
        return await self._typed(list[OrderOut], "GET", f"/api/orders?state={state}")

    async def order(self, order_id: str) -> OrderOut:
        """One order."""
        return await self._typed(OrderOut, "GET", f"/api/orders/{order_id}")

    async def create_order(self, lines: Mapping[str, int], note: str = "") -> OrderOut:
        """Open an order with all its lines in one transaction."""
        body = {"note": note, "lines": [{"sku": s, "qty": q} for s, q in lines.items()]}
        return await self._typed(OrderOut, "POST", "/api/orders", body)

    async def tender(
        self,
        order_id: str,
        tender: str,
        operator: str | None = None,
        override_reason: str | None = None,
        qr_sides: Sequence[int] = (),
    ) -> TenderOut:
        """Choose cash or a rail; a rail's answer carries the QR payload (409 if refused).

        With `qr_sides` (the largest code, modules a side, each screen area can show) the node
        also builds the code for the first that holds it: the answer's `qr` (absent from an
        older node, which ignores the query).
        """
        body = {"tender": tender, "operator": operator, "override_reason": override_reason}
        query = f"?qr={','.join(str(side) for side in qr_sides[:4])}" if qr_sides else ""
        return await self._typed(TenderOut, "POST", f"/api/orders/{order_id}/tender{query}", body)

    async def confirm(
        self,
        order_id: str,
        operator: str | None = None,
        override_reason: str | None = None,
        cash_received: int | None = None,
    ) -> ConfirmOut:
        """Confirm payment; the answer says whether the offline policy accepted it.

        `cash_received` (minor units, cash only) lets the attendee's receipt page show the change.
        """
        body: dict[str, object] = {"operator": operator, "override_reason": override_reason}
        if cash_received is not None:
            body["cash_received"] = cash_received
        return await self._typed(ConfirmOut, "POST", f"/api/orders/{order_id}/confirm", body)

    async def read_pass(self, text: str) -> PassOut:
        """Have the node verify a pass read here (409 Refused, `reason: …`, if it refuses it)."""
        return await self._typed(PassOut, "POST", "/api/passes/read", {"pass": text})

    async def apply_pass(self, order_id: str, text: str) -> OrderOut:
        """Apply a pass to an open order; the order with its discounts."""
        return await self._typed(OrderOut, "POST", f"/api/orders/{order_id}/pass", {"pass": text})

    async def cancel(self, order_id: str) -> OrderOut:
        """Cancel an unpaid order."""
        return await self._typed(OrderOut, "POST", f"/api/orders/{order_id}/cancel")

    async def ready(self, order_id: str) -> OrderOut:
        """Mark a paid order ready for pick-up (the attendee's receipt page shows it)."""
        return await self._typed(OrderOut, "POST", f"/api/orders/{order_id}/ready")

    async def void(self, order_id: str) -> ReceiptOut:
        """Void a paid order."""
        return await self._typed(ReceiptOut, "POST", f"/api/orders/{order_id}/void")

    async def bank(self) -> BankOut | None:
        """The bank watch and each rail's sales by evidence; None from a node without /api/bank."""
        try:
            return await self._typed(BankOut, "GET", "/api/bank")
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

    async def flags(self) -> FlagsOut | None:
        """The edge flags' arms and decisions; None from a node without /api/flags."""
        try:
            return await self._typed(FlagsOut, "GET", "/api/flags")
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

    async def stats(self) -> StatsOut:
        """Sales, revenue, outbox and the edge decision rate."""
        return await self._typed(StatsOut, "GET", "/api/stats")

    async def decisions(self, limit: int = 200) -> list[DecisionOut]:
        """The latest policy decisions, newest first."""
        return await self._typed(list[DecisionOut], "GET", f"/api/decisions?limit={limit}")

    async def drops(self) -> list[DropOut]:
        """Every drop with its units left."""
        return await self._typed(list[DropOut], "GET", "/api/drops")

    async def schedule_drop(
        self, sku: str, quantity: int, starts_at: str, per_attendee: int = 1, hold_s: int = 300
    ) -> DropOut:
        """Create and arm a drop."""
        body = {
            "sku": sku,
            "quantity": quantity,
            "starts_at": starts_at,
            "per_attendee": per_attendee,
            "hold_s": hold_s,
        }
        return await self._typed(DropOut, "POST", "/api/drops", body)

    async def close_report(self, sign: bool) -> CloseReport:
        """The open period's report (GET /api/close), or sign the close (POST) and report it."""
        from appliance.domain.close import CloseReport

        return await self._typed(CloseReport, "POST" if sign else "GET", "/api/close")

    async def restock(self, sku: str, qty: int, mode: str, operator: str) -> ItemOut:
        """Add `qty` to an item's stock, or set it (mode "set"); the node records the move."""
        body = {"qty": qty, "mode": mode, "operator": operator}
        return await self._typed(ItemOut, "POST", f"/api/catalog/{sku}/stock", body)

    async def clock(self) -> ClockOut:
        """The box's time, the last receipt's, and any clock alarm."""
        from appliance.api.season_schemas import ClockOut

        return await self._typed(ClockOut, "GET", "/api/clock")

    async def set_clock(self, now: datetime, operator: str) -> ClockOut:
        """Set the box's time to `now` (this device's clock)."""
        from appliance.api.season_schemas import ClockOut

        body = {"now": now.astimezone(UTC).isoformat(timespec="seconds"), "operator": operator}
        return await self._typed(ClockOut, "POST", "/api/clock", body)

    async def order_passes(self, order_id: str) -> list[IssuedPassOut]:
        """The passes a paid order issued, to hand over (none from a node without the route)."""
        try:
            return await self._typed(list[IssuedPassOut], "GET", f"/api/orders/{order_id}/passes")
        except Refused as exc:
            if exc.status == 404:
                return []
            raise

    async def sync_state(self) -> SyncOut | None:
        """The sync daemon's state as the node keeps it, or None from a node without /api/sync."""
        try:
            return await self._typed(SyncOut, "GET", "/api/sync")
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

    async def pass_peers(self) -> PassPeersOut | None:
        """The creator's boxes in sight and over-redemptions; None from a node without the route."""
        try:
            return await self._typed(PassPeersOut, "GET", "/api/passes/peers")
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

    async def metrics(self) -> MetricsView:
        """Conversion latency quantiles and confirmations by rail, from /metrics."""
        answer = await self._call("GET", "/metrics")
        return parse_metrics(answer.text)

    async def tenders(self) -> list[str]:
        """Tenders the node offers: cash and each configured rail (cached for the session)."""
        if self._tenders is None:
            self._tenders = await self._typed(list[str], "GET", "/api/tenders")
        return self._tenders

    async def offered(self, order_id: str) -> list[str]:
        """Tenders the node's offline policy accepts for this order now (never cached)."""
        return await self._typed(list[str], "GET", f"/api/tenders?order={quote(order_id)}")

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


def parse_metrics(text: str) -> MetricsView:
    """Pick the conversion histogram and the confirmation counters out of Prometheus text."""
    from appliance.ledger.figures import quantile  # the cloud's dashboard uses it too

    buckets: list[tuple[float, float]] = []
    confirmations: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if line.startswith("stallbox_conversion_seconds_bucket{"):
            bound = re.search(r'le="([^"]+)"', line)
            if bound:
                buckets.append((float(bound[1]), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("stallbox_confirmations_total{"):
            rail = re.search(r'rail="([^"]*)"', line)
            verdict = re.search(r'verdict="([^"]*)"', line)
            if rail and verdict:
                confirmations[(rail[1], verdict[1])] = int(float(line.rsplit(" ", 1)[1]))
    return MetricsView(quantile(buckets, 0.5), quantile(buckets, 0.9), confirmations)
