"""SQL for restocking: set an item's stock and record the move in the append-only stock_moves.

Catalogue changes are not receipts (the receipt rules know sales, voids, closes, rekeys and
evidence, appliance/ledger/rules.py), so a restock is recorded beside the ledger: one row per
move, never updated or deleted (triggers), in the same transaction as the stock it changes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appliance.store.errors import NotFound


@dataclass(frozen=True, slots=True)
class StockMove:
    """One recorded restock."""

    at: str
    sku: str
    delta: int
    stock: int
    operator: str
    note: str


def current_stock(conn: sqlite3.Connection, sku: str) -> int | None:
    """The stock of an active item (None: unlimited); NotFound for an unknown or retired sku."""
    row = conn.execute("SELECT stock FROM items WHERE sku = ? AND active = 1", (sku,)).fetchone()
    if row is None:
        raise NotFound(f"no item with sku {sku!r}")
    return None if row[0] is None else int(row[0])


def set_stock(conn: sqlite3.Connection, move: StockMove) -> None:
    """Write the item's new stock and the move that explains it."""
    conn.execute("UPDATE items SET stock = ? WHERE sku = ?", (move.stock, move.sku))
    conn.execute(
        "INSERT INTO stock_moves (at, sku, delta, stock, operator, note) VALUES (?, ?, ?, ?, ?, ?)",
        (move.at, move.sku, move.delta, move.stock, move.operator, move.note),
    )


def moves(conn: sqlite3.Connection, sku: str | None = None, limit: int = 100) -> list[StockMove]:
    """The latest moves (of one sku if given), newest first."""
    rows = conn.execute(
        "SELECT at, sku, delta, stock, operator, note FROM stock_moves"
        " WHERE ? IS NULL OR sku = ? ORDER BY id DESC LIMIT ?",
        (sku, sku, limit),
    )
    return [StockMove(str(a), str(s), int(d), int(k), str(o), str(n)) for a, s, d, k, o, n in rows]
