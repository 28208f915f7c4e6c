"""When to try the cloud again: full-jitter backoff, the cloud's Retry-After, and waiting on events.

DESIGN §4: base 1 s, cap 300 s, never sooner than Retry-After; a link change (sync/link.py) or a
stop request ends any wait at once.
"""

from __future__ import annotations

import asyncio
import random

import httpx


class Backoff:
    """Full-jitter exponential backoff (AWS architecture blog): uniform(0, min(cap, base·2^n))."""

    def __init__(self, base: float, cap: float, rng: random.Random) -> None:
        self.base, self.cap, self.rng, self.attempts = base, cap, rng, 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """Return the next wait; never shorter than the cloud's Retry-After."""
        ceiling = min(self.cap, self.base * 2**self.attempts)
        self.attempts += 1
        delay = self.rng.uniform(0, ceiling)
        return min(self.cap, max(delay, retry_after or 0.0))

    def reset(self) -> None:
        """Start again from the base after a success or a link change."""
        self.attempts = 0


class Retry(Exception):
    """A transient failure: try again after backoff (or after `after` seconds if the cloud said)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


def transient(status: int) -> bool:
    """Whether an HTTP status means "try again later" (timeouts, rate limits, server errors)."""
    return status in (408, 425, 429) or status >= 500


def retry_after(response: httpx.Response) -> float | None:
    """Return Retry-After in seconds (delta-seconds form), or None."""
    value = response.headers.get("retry-after", "")
    return float(value) if value.strip().isdigit() else None


async def wait_any(timeout: float, *events: asyncio.Event) -> asyncio.Event | None:
    """Wait until one of `events` is set or `timeout` passes; return the event, or None."""
    waiters = {asyncio.ensure_future(e.wait()): e for e in events}
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return next((waiters[w] for w in done), None)
