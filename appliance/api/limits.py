"""Per-client limits for the attendee pages, bounded in memory: a token bucket per address for
POSTs, and how many orders awaiting payment one address holds (they never expire by themselves,
so at the POST rate alone one script could fill the vendor's waiting list: 7,200 an hour).
The relay (operator plane, no auth) uses the same bucket per address."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from typing import Any

MAX_CLIENTS = 4096
MAX_UNPAID = 10  # orders awaiting payment per address; a phone has one or two


def socket_address(host: str | None) -> str:
    """A peer's address as limits count it: IPv4 as itself, also when a dual-stack socket maps
    it into IPv6 (::ffff:a.b.c.d); IPv6 whole (the attendee plane's client_address uses it too)."""
    host = host or "?"
    if host.startswith("::ffff:") and "." in host:
        try:
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
        except ValueError:
            mapped = None
        return host if mapped is None else str(mapped)
    return host


class RateLimiter:
    """Allows `rate` requests per second per client with bursts of `burst`."""

    def __init__(self, rate: float, burst: int, max_clients: int = MAX_CLIENTS) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max = max_clients

    def allow(self, client: str, now: float | None = None) -> bool:
        """Take one token for `client`; False when it has none left."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed

    def retry_after(self) -> int:
        """Seconds until one more token, rounded up."""
        return max(1, int(1 / self.rate + 0.999))


class UnpaidOrders:
    """The orders awaiting payment that each client address placed, at most `limit` each.

    Told of every order event (EventHub listeners): a paid, cancelled or expired order frees its
    place. Memory only, for at most `max_clients` addresses (the least recent forgotten).
    """

    def __init__(self, limit: int = MAX_UNPAID, max_clients: int = MAX_CLIENTS) -> None:
        self.limit = limit
        self._max = max_clients
        self._by_client: OrderedDict[str, set[str]] = OrderedDict()
        self._client_of: dict[str, str] = {}

    def full(self, client: str) -> bool:
        """True when `client` holds `limit` orders awaiting payment."""
        return len(self._by_client.get(client, ())) >= self.limit

    def placed(self, client: str, order_id: str) -> None:
        """`client` placed `order_id`, now awaiting payment."""
        self._by_client.setdefault(client, set()).add(order_id)
        self._by_client.move_to_end(client)
        self._client_of[order_id] = client
        while len(self._by_client) > self._max:
            _, forgotten = self._by_client.popitem(last=False)
            for order in forgotten:
                self._client_of.pop(order, None)

    def heard(self, kind: str, data: dict[str, Any]) -> None:
        """An event: an order no longer awaiting payment frees its client's place."""
        if kind != "order" or data.get("state") == "awaiting_payment":
            return
        client = self._client_of.pop(str(data.get("id")), None)
        if client is not None:
            held = self._by_client.get(client)
            if held is not None:
                held.discard(str(data.get("id")))
                if not held:
                    del self._by_client[client]
