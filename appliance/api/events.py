"""Live updates for consoles and pay pages: a fan-out hub behind /api/events (SSE).

Publishing never blocks a sale: each subscriber has a bounded queue, and a subscriber too slow to
keep up loses its oldest events (it is told to refresh) rather than slowing the node.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

QUEUE_SIZE = 256
HEARTBEAT_S = 15.0


class EventHub:
    """Fan-out of small JSON events to any number of subscribers."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[str]] = set()
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []  # in-process, sync

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subscribers)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Queue an event for every subscriber; drop the oldest for one that is full."""
        for listener in self.listeners:
            listener(kind, data)
        if not self._subscribers:
            return  # nobody to tell: a rush with no console open encodes nothing
        message = f"event: {kind}\ndata: {msgspec.json.encode(data).decode()}\n\n"
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
                queue.put_nowait("event: resync\ndata: {}\n\n")
                continue
            queue.put_nowait(message)

    async def stream(self, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[str]:
        """Yield SSE text for one subscriber until it goes away, with comment heartbeats."""
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield "retry: 2000\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        """Forget every subscriber (the server is stopping)."""
        self._subscribers.clear()
