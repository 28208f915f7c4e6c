"""Funnel events (menu view, cart, order, paid) kept apart from the ledger.

In memory, bounded, O(1) per event: they can never slow or block a sale. The conversion latency
is measured from a visitor's first menu view (a cookie) to their order being paid, and kept as a
histogram (appliance/ledger/figures.py) that is folded into the minute's row with the counts.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict

from appliance.ledger.figures import Latencies

MAX_VISITORS = 10_000
STEPS = ("menu", "cart", "order", "paid")


class Funnel:
    """Counts per step and first-view times per visitor and per order, bounded."""

    def __init__(self, max_entries: int = MAX_VISITORS) -> None:
        self.counts: Counter[str] = Counter()
        self._taken: Counter[str] = Counter()
        self._first_view: OrderedDict[str, float] = OrderedDict()
        self._order_view: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._latencies = Latencies()

    @staticmethod
    def _remember(table: OrderedDict[str, float], key: str, value: float, limit: int) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > limit:
            table.popitem(last=False)

    def viewed_menu(self, visitor: str, now: float | None = None) -> None:
        """A menu view; the first one per visitor starts their conversion clock."""
        self.counts["menu"] += 1
        if visitor not in self._first_view:
            self._remember(
                self._first_view, visitor, time.time() if now is None else now, self._max
            )

    def take(self) -> Counter[str]:
        """Return the counts since the last take (for the per-minute rows) and start afresh."""
        taken = self.counts - self._taken
        self._taken = self.counts.copy()
        return taken

    def take_latencies(self) -> Latencies:
        """Return the conversion latencies since the last take and start afresh."""
        taken, self._latencies = self._latencies, Latencies()
        return taken

    def step(self, name: str) -> None:
        """Count a step (cart, order)."""
        self.counts[name] += 1

    def ordered(self, visitor: str | None, order_id: str) -> None:
        """An order was placed by this visitor: carry their first view over to the order."""
        self.counts["order"] += 1
        if visitor is not None and visitor in self._first_view:
            self._remember(self._order_view, order_id, self._first_view[visitor], self._max)

    def paid(self, order_id: str, now: float | None = None) -> float | None:
        """The order was paid; return seconds since the visitor's first menu view, if known."""
        self.counts["paid"] += 1
        first = self._order_view.pop(order_id, None)
        if first is None:
            return None
        latency = max(0.0, (time.time() if now is None else now) - first)
        self._latencies = self._latencies.observe(latency)
        return latency
