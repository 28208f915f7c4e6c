"""A like-for-like floor for a sale's confirm: raw sqlite3 doing what a sale must, and no more.

bench/ledger.py's floor (issue 18) is one INSERT of one row into a table without indexes: one
WAL page, no read, no signature. A sale must read its order and the chain's last receipt, sign
a receipt line (Ed25519) chained to that receipt, insert it into `receipts` (its key, the
UNIQUE line, the kind/time index) and mark the order paid (its row and `orders_by_state`): six
pages, three statements and a signature more. This floor does exactly that, on the product's
own schema (MIGRATIONS: the same tables, indexes, triggers and foreign keys), with plain
sqlite3 calls and the least Python that makes a valid-looking line, so a ratio to it measures
what the product's code costs over the work itself, not the work.

Two shapes, as the bench's sales: one sale per transaction (p50 of each BEGIN IMMEDIATE ..
COMMIT), and 32 sales per transaction (one commit per batch, no savepoints: the product's
isolation of one failing job from the others is part of what the ratio charges it for).
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.store.connection import PRAGMAS
from appliance.store.migrations import migrate

BATCH = 32
PREFIX = b"stallbox-floor\x00"  # a domain-separation prefix, as the product's signing input has
_NOW = "2026-12-05T04:00:00.000000+00:00"
_STAMP = "20261205T040000Z"
_ITEMS = '[{"name":"Tea","qty":1,"sku":"tea","unit":500}]'

# The order with its line and the chain's last receipt: what a sale must read to sign.
_READ = """
SELECT o.state, o.currency, l.unit_price * l.qty, r.seq, r.line
FROM orders AS o
JOIN order_lines AS l ON l.order_id = o.id
LEFT JOIN receipts AS r ON r.seq = (SELECT max(seq) FROM receipts)
WHERE o.id = ?
"""
_INSERT = (
    "INSERT INTO receipts (seq, line, items, kind, total, order_id, created_at)"
    " VALUES (?, ?, ?, 'sale', ?, ?, ?)"
)
_PAID = (
    "UPDATE orders SET state = 'paid', updated_at = ?, receipt_seq = ?, cash_received = NULL"
    " WHERE id = ?"
)


def b64(data: bytes) -> str:
    """Base64url without padding, as a receipt line encodes its hashes and signature."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SaleFloor:
    """A database on the product's schema with orders to sell, sold by raw sqlite3."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            self.conn.execute(pragma)
        migrate(self.conn)
        self.key = Ed25519PrivateKey.generate()
        self.items_hash = b64(hashlib.sha256(_ITEMS.encode()).digest()[:16])
        self._number = 0

    def orders(self, n: int) -> list[str]:
        """n orders awaiting a cash payment, one line each, inserted in one transaction."""
        ids = []
        self.conn.execute("BEGIN IMMEDIATE")
        for _ in range(n):
            self._number += 1
            order_id = f"{self._number:016x}{'f' * 16}"
            self.conn.execute(
                "INSERT INTO orders (id, number, state, currency, tender, reference, created_at,"
                " updated_at) VALUES (?, ?, 'awaiting_payment', 'BRL', 'cash', ?, ?, ?)",
                (order_id, self._number, f"R{self._number}", _NOW, _NOW),
            )
            self.conn.execute(
                "INSERT INTO order_lines (order_id, sku, name, unit_price, qty)"
                " VALUES (?, 'tea', 'Tea', 500, 1)",
                (order_id,),
            )
            ids.append(order_id)
        self.conn.execute("COMMIT")
        return ids

    def sell(self, order_id: str) -> None:
        """One sale inside the caller's transaction: read, sign on the chain, insert, mark paid."""
        conn = self.conn
        state, currency, total, last_seq, last_line = conn.execute(_READ, (order_id,)).fetchone()
        if state != "awaiting_payment":
            raise RuntimeError(f"order {order_id} is {state}")
        seq = 0 if last_seq is None else last_seq + 1
        prev = hashlib.sha256(last_line.encode()).digest()[:16] if last_line else bytes(16)
        body = ";".join(
            ("SR1", "floordevice", "floorkey000", "0", str(seq), _STAMP, "sale", currency,
             str(total), self.items_hash, b64(prev), "")
        )  # fmt: skip
        line = f"{body};{b64(self.key.sign(PREFIX + body.encode()))}"
        conn.execute(_INSERT, (seq, line, _ITEMS, total, order_id, _NOW))
        conn.execute(_PAID, (_NOW, seq, order_id))

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def sale_floor(directory: Path, n: int) -> tuple[list[float], float, float, float]:
    """The like-for-like floor: n lone sales, then 2n in batches of 32 (as the bench's sales).

    Returns (each lone sale's seconds, sales/s in batches, CPU seconds per lone sale and per
    sale in a batch).
    """
    path = directory / "sale-floor.db"
    floor = SaleFloor(path)
    try:
        ids = floor.orders(n)
        times = []
        cpu = time.process_time()
        for order_id in ids:
            t0 = time.perf_counter()
            floor.conn.execute("BEGIN IMMEDIATE")
            floor.sell(order_id)
            floor.conn.execute("COMMIT")
            times.append(time.perf_counter() - t0)
        cpu_lone = (time.process_time() - cpu) / n
        ids = floor.orders(2 * n)
        start, cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(ids), BATCH):
            floor.conn.execute("BEGIN IMMEDIATE")
            for order_id in ids[first : first + BATCH]:
                floor.sell(order_id)
            floor.conn.execute("COMMIT")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return times, len(ids) / elapsed, cpu_lone, cpu / len(ids)
    finally:
        floor.close()
        for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
            (directory / name).unlink(missing_ok=True)
