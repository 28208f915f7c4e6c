"""Restock: change the stock of an item already on sale, mid-night, recorded.

The config's `stock` is only an item's first stock (appliance/store/orders.sync_catalog), so a
vendor who fetched another crate changes it here: add units, or set the count found on the
shelf. Each change and the move that records it (operator, note, before and after) are one
transaction through the writer, beside the sales that take the same stock.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from appliance.domain.catalog import Item
from appliance.domain.errors import CatalogError
from appliance.services.box import Box
from appliance.store import orders as orders_sql
from appliance.store import stock as stock_sql

MAX_STOCK = 1_000_000


def restock_tx(
    conn: sqlite3.Connection,
    sku: str,
    *,
    add: int | None,
    set_to: int | None,
    operator: str,
    note: str,
    at: datetime,
) -> Item:
    """Add to or set an item's stock and record the move; the item as it now stands."""
    if (add is None) == (set_to is None):
        raise CatalogError("give exactly one of add or set", "mode")
    before = stock_sql.current_stock(conn, sku)
    if add is not None:
        if before is None:
            raise CatalogError(f"{sku} has unlimited stock; set a count instead", "mode")
        after = before + add
    else:
        assert set_to is not None
        after = set_to
    if not 0 <= after <= MAX_STOCK:
        raise CatalogError(f"stock would be {after}; it must be 0-{MAX_STOCK}", "qty")
    delta = after - (before or 0)
    move = stock_sql.StockMove(at.isoformat(), sku, delta, after, operator, note)
    stock_sql.set_stock(conn, move)
    return orders_sql.load_item(conn, sku)


async def restock(
    box: Box,
    sku: str,
    *,
    add: int | None = None,
    set_to: int | None = None,
    operator: str = "",
    note: str = "",
    at: datetime,
) -> Item:
    """Add `add` units to an item's stock, or set it to `set_to`; recorded in stock_moves."""
    return await box.writer.run(
        lambda conn: restock_tx(
            conn, sku, add=add, set_to=set_to, operator=operator, note=note, at=at
        )
    )


async def recent_moves(box: Box, limit: int = 100) -> list[stock_sql.StockMove]:
    """The latest recorded restocks of any item, newest first."""
    return await box.writer.read(lambda conn: stock_sql.moves(conn, None, limit))
