"""The console's typed calls to the node's operator API, one method a route.

Answers are decoded strictly into the API's own msgspec types, so a node speaking a different API
is a clear error, not a KeyError three screens later. How the calls travel (TLS pinned to the
node's key, kept-alive connections, pairing, the event stream, failures as tui.errors) is
tui/connection.py's; one NodeClient serves the whole session.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from appliance.api.bank_schemas import BankOut
from appliance.api.flags_schemas import FlagsOut
from appliance.api.pass_peers_schemas import PassPeersOut
from appliance.api.pass_schemas import IssuedPassOut, PassOut
from appliance.api.schemas import (
    ConfirmOut,
    DecisionOut,
    DropOut,
    ItemOut,
    OrderOut,
    ReceiptOut,
    StatsOut,
    SyncOut,
    TenderOut,
)
from tui.connection import NodeConnection, NodeEvent
from tui.errors import Refused

if TYPE_CHECKING:  # imported where used: the console's start does without them
    from appliance.api.season_schemas import ClockOut
    from appliance.domain.close import CloseReport

__all__ = ["MetricsView", "NodeClient", "NodeEvent", "parse_metrics"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MetricsView:
    """What the numbers screen needs from /metrics."""

    conversion_p50_s: float | None = None
    conversion_p90_s: float | None = None
    confirmations: dict[tuple[str, str], int] = field(default_factory=dict)  # (rail, verdict)


class NodeClient(NodeConnection):
    """Typed calls to one node's operator API, over the connection NodeConnection keeps.

    NodeConnection's docstring says how the node's key is proven before anything is sent.
    """

    _tenders: list[str] | None = None  # the tenders the node offers, asked once a session

    async def _if_served(self, kind: type[T], path: str) -> T | None:
        """GET `path` as `kind`; None from a node without the route (404: an older node)."""
        try:
            return await self._typed(kind, "GET", path)
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

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
        return await self._if_served(BankOut, "/api/bank")

    async def flags(self) -> FlagsOut | None:
        """The edge flags' arms and decisions; None from a node without /api/flags."""
        return await self._if_served(FlagsOut, "/api/flags")

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
        return await self._if_served(list[IssuedPassOut], f"/api/orders/{order_id}/passes") or []

    async def sync_state(self) -> SyncOut | None:
        """The sync daemon's state as the node keeps it, or None from a node without /api/sync."""
        return await self._if_served(SyncOut, "/api/sync")

    async def pass_peers(self) -> PassPeersOut | None:
        """The creator's boxes in sight and over-redemptions; None from a node without the route."""
        return await self._if_served(PassPeersOut, "/api/passes/peers")

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
