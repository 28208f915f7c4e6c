"""Local recommendations: what this box sold most in the last hour, for the menu's "popular" arm.

Computed on the box from its own sale receipts (no cloud, no model): one indexed query over the
last hour's sale lines (store/popular.py), kept for `ttl_s` seconds so a busy menu costs one query
every few seconds, not one per page. Which visitors see it is a flag (api/attendee/page_variants.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from appliance.store import popular as popular_sql
from appliance.store.writer import Writer

WINDOW_S = 3600.0  # "right now": the last hour
TTL_S = 5.0  # the picks may be this old
PICKS = 3  # how many items the menu names as popular
KEPT = 50  # how many of the best sellers the query returns (the menu's order beyond the picks)

T = TypeVar("T")


class Popular:
    """The last hour's best sellers on this box, cached for a few seconds."""

    def __init__(
        self,
        writer: Writer,
        *,
        window_s: float = WINDOW_S,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer, self.window_s, self.ttl_s, self.clock = writer, window_s, ttl_s, clock
        self._cached: tuple[float, tuple[tuple[str, int], ...]] | None = None
        self._asking = asyncio.Lock()  # a rush of menus when the picks are stale: one query

    async def sold(self) -> tuple[tuple[str, int], ...]:
        """(sku, units) sold in the window, most sold first (at most `ttl_s` old)."""
        cached = self._cached
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        async with self._asking:
            return await self._query()

    async def _query(self) -> tuple[tuple[str, int], ...]:
        now = self.clock()
        if self._cached is not None and now - self._cached[0] < self.ttl_s:
            return self._cached[1]  # asked while we waited
        since = datetime.fromtimestamp(now, UTC) - timedelta(seconds=self.window_s)
        cutoff = since.replace(microsecond=0).isoformat()
        rows = await self.writer.read(lambda conn: popular_sql.sold_since(conn, cutoff, KEPT))
        self._cached = (now, tuple(rows))
        return self._cached[1]


def by_popularity(
    items: Sequence[T], sku: Callable[[T], str], sold: Sequence[tuple[str, int]]
) -> tuple[list[T], list[T]]:
    """The items best sellers first (the rest in catalogue order), and the picks to name.

    Picks are the first `PICKS` items that sold at least one unit in the window.
    """
    rank = {name: place for place, (name, _units) in enumerate(sold)}
    ordered = sorted(items, key=lambda item: rank.get(sku(item), len(rank)))  # stable
    picks = [item for item in ordered if sku(item) in rank][:PICKS]
    return ordered, picks
