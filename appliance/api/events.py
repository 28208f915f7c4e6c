"""Live updates for consoles and pay pages: a fan-out hub behind /api/events (SSE).

Publishing never blocks a sale: each subscriber has a bounded queue, and a subscriber too slow to
keep up loses its oldest events (it is told to refresh) rather than slowing the node. A pay page
follows one order: its stream is keyed by the order's id and hears only that order's events, so
the thousands of pay pages a stranger can hold open (256 per address) cost a sale nothing; when
each heard every event, 4,000 open ones made an order cost the node 120 ms of CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

QUEUE_SIZE = 256
HEARTBEAT_S = 15.0


class EventHub:
    """Fan-out of small JSON events to any number of subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._by_order: dict[str, set[asyncio.Queue[str]]] = {}  # pay pages, by order id
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []  # in-process, sync

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers) + sum(map(len, self._by_order.values()))

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Queue an event for every subscriber; drop the oldest for one that is full."""
        for listener in self.listeners:
            listener(kind, data)
        following = self._by_order.get(data.get("id", "")) if kind == "order" else None
        if not self._subscribers and not following:
            return  # nobody to tell: a rush with no console open encodes nothing
        message = f"event: {kind}\ndata: {msgspec.json.encode(data).decode()}\n\n"
        for queue in (*self._subscribers, *(following or ())):
            if queue.full():
                queue.get_nowait()
                queue.put_nowait("event: resync\ndata: {}\n\n")
                continue
            queue.put_nowait(message)

    async def stream(
        self, heartbeat_s: float = HEARTBEAT_S, order: str | None = None
    ) -> AsyncGenerator[str, None]:
        """Yield SSE text for one subscriber until it goes away, with comment heartbeats.

        With `order`, only that order's `order` events (a pay page); else every event.
        """
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        mine = self._subscribers if order is None else self._by_order.setdefault(order, set())
        mine.add(queue)
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            mine.discard(queue)
            if order is not None and not mine:
                self._by_order.pop(order, None)

    def close(self) -> None:
        """Forget every subscriber (the server is stopping)."""
        self._subscribers.clear()
        self._by_order.clear()
