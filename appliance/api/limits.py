"""Per-client rate limits for the attendee pages: a token bucket per address, bounded in memory."""

from __future__ import annotations

import time
from collections import OrderedDict

MAX_CLIENTS = 4096


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
