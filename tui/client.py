"""The console's one way to the node: a long-lived httpx.AsyncClient, typed results, SSE.

One client for the whole session (DESIGN §6: a new client costs ~21 ms, a reused one ~0.5 ms per
request). Answers are decoded strictly into the API's own msgspec types, so a node speaking a
different API is a clear error, not a KeyError three screens later. Every failure becomes one
of tui.errors: NodeUnreachable when the node did not answer, Refused (or Unauthorized) when it did.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
from appliance.ledger.identity import fingerprint, identity_proven
from appliance.ledger.receipt import b64, unb64
from tui.errors import NodeUnreachable, Refused, Unauthorized
from tui.pairing import UNIX_BASE_URL, pair_async, pair_local, unix_path

T = TypeVar("T")
EVENT_READ_TIMEOUT_S = 40.0  # the node sends a keep-alive every 15 s


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
    """Typed calls to one node's operator API."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        socket_path = unix_path(self.base_url)
        if socket_path is not None and transport is None:  # the on-box console: no network
            transport = httpx.AsyncHTTPTransport(uds=socket_path)
        self._http = httpx.AsyncClient(
            base_url=UNIX_BASE_URL if socket_path is not None else self.base_url,
            timeout=timeout_s,
            transport=transport,
        )
        self._tenders: list[str] | None = None
        self.token = token

    @property
    def token(self) -> str | None:
        """The operator token sent with every call."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value
        if value:
            self._http.headers["Authorization"] = f"Bearer {value}"
        else:
            self._http.headers.pop("Authorization", None)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            if body is None:
                answer = await self._http.request(method, path)
            else:
                answer = await self._http.request(method, path, content=msgspec.json.encode(body))
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"node at {self.base_url} did not answer ({exc!r})") from exc
        if answer.status_code >= 400:
            raise _refusal(answer)
        return answer

    async def _typed(self, kind: type[T], method: str, path: str, body: Any = None) -> T:
        answer = await self._call(method, path, body)
        try:
            return msgspec.json.decode(answer.content, type=kind)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            raise Refused(answer.status_code, f"unexpected answer from {path}: {exc}") from exc

    async def health(self) -> bool:
        """True if /healthz answers ok."""
        answer = await self._call("GET", "/healthz")
        return bool(answer.json().get("ok"))

    @property
    def on_box(self) -> bool:
        """True when this client talks to the node over its Unix socket."""
        return unix_path(self.base_url) is not None

    async def pair(self, code: str, name: str, peer_fingerprint: str) -> PairResponse:
        """Run the PAKE over `code`, bound to the key fingerprint we saw; remember the token."""
        paired = await pair_async(self._http, code, name, peer_fingerprint)
        self.token = paired.token
        return paired

    async def pair_local(self, name: str) -> PairResponse:
        """Pair over the node's Unix socket with no code; remember the token."""
        paired = await pair_local(self._http, name)
        self.token = paired.token
        return paired

    async def identity(self) -> IdentityOut | None:
        """The node's key, proven by its signature over a fresh challenge (None: node too old).

        Refused when the proof fails: whoever answers at this address does not hold the key it
        names, which the console treats like a changed key.
        """
        challenge = os.urandom(32)
        try:
            shown = await self._typed(
                IdentityOut, "GET", f"/api/identity?challenge={b64(challenge)}"
            )
        except Refused as exc:
            if exc.status == 404:
                return None
            raise
        try:
            public = Ed25519PublicKey.from_public_bytes(unb64(shown.public_key, 32, "public_key"))
            signature = unb64(shown.signature, 64, "signature")
        except LedgerError as exc:
            raise Refused(200, f"the node's identity is malformed: {exc}") from None
        if fingerprint(public) != shown.fingerprint or not identity_proven(
            public, challenge, signature
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

    async def tender(self, order_id: str, tender: str) -> TenderOut:
        """Choose cash or a rail; a rail's answer carries the QR payload."""
        return await self._typed(
            TenderOut, "POST", f"/api/orders/{order_id}/tender", {"tender": tender}
        )

    async def confirm(
        self, order_id: str, operator: str | None = None, override_reason: str | None = None
    ) -> ConfirmOut:
        """Confirm payment; the answer says whether the offline policy accepted it."""
        body = {"operator": operator, "override_reason": override_reason}
        return await self._typed(ConfirmOut, "POST", f"/api/orders/{order_id}/confirm", body)

    async def cancel(self, order_id: str) -> OrderOut:
        """Cancel an unpaid order."""
        return await self._typed(OrderOut, "POST", f"/api/orders/{order_id}/cancel")

    async def ready(self, order_id: str) -> OrderOut:
        """Mark a paid order ready for pick-up (the attendee's receipt page shows it)."""
        return await self._typed(OrderOut, "POST", f"/api/orders/{order_id}/ready")

    async def void(self, order_id: str) -> ReceiptOut:
        """Void a paid order."""
        return await self._typed(ReceiptOut, "POST", f"/api/orders/{order_id}/void")

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

    async def sync_state(self) -> SyncOut | None:
        """The sync daemon's state as the node keeps it, or None from a node without /api/sync."""
        try:
            return await self._typed(SyncOut, "GET", "/api/sync")
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

    async def events(self) -> AsyncIterator[NodeEvent]:
        """Server-sent events until the stream ends; raises NodeUnreachable when it breaks."""
        timeout = httpx.Timeout(5.0, read=EVENT_READ_TIMEOUT_S)
        try:
            async with self._http.stream("GET", "/api/events", timeout=timeout) as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    raise _refusal(answer)
                kind, data = "message", ""
                async for line in answer.aiter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        yield NodeEvent(kind, _json_object(data))
                        kind, data = "message", ""
        except httpx.TransportError as exc:
            raise NodeUnreachable(f"event stream from {self.base_url} broke ({exc!r})") from exc


def _json_object(text: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(answer: httpx.Response) -> Refused:
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


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """A quantile from cumulative histogram buckets, interpolated like PromQL's."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * (
                (rank - lower_count) / span if span else 0
            )
        lower_bound, lower_count = bound, count
    return None
