"""The like-for-like floor (bench/sale_floor.py) writes what a sale writes, and a valid chain.

If a confirm starts writing another table or index, the floor no longer compares like with
like: the first test fails until the floor writes it too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
import struct
from pathlib import Path

from appliance.store.connection import DB_NAME
from bench.sale_floor import PREFIX, SaleFloor, b64
from bench.sale_setup import prepare, tea_box

FRAME_HEADER = 24  # a WAL frame: 24-byte header (its first 4 bytes the page number), then the page


def _written(db: Path, before: int) -> set[str]:
    """The b-trees (tables and indexes) whose pages the WAL gained after byte `before`."""
    page = sqlite3.connect(db).execute("PRAGMA page_size").fetchone()[0]
    data = Path(f"{db}-wal").read_bytes()[before:]
    pages = {
        struct.unpack(">I", data[at : at + 4])[0] for at in range(0, len(data), FRAME_HEADER + page)
    }
    reader = sqlite3.connect(db)
    try:
        names = dict(reader.execute("SELECT pageno, name FROM dbstat").fetchall())
    finally:
        reader.close()
    return {names[number] for number in pages}


def _sale_writes(tmp_path: Path) -> set[str]:
    """What one lone cash sale's confirm writes, after a few sales (the WAL never checkpoints)."""

    async def run() -> set[str]:
        state = tmp_path / "state"
        async with tea_box(state) as (_, checkout):
            ids = await prepare(checkout, 4)
            for order_id in ids[:-1]:
                await checkout.confirm(order_id)
            wal = state / f"{DB_NAME}-wal"
            before = wal.stat().st_size
            await checkout.confirm(ids[-1])
            return _written(state / DB_NAME, before)

    return asyncio.run(run())


def test_the_floor_writes_the_tables_and_indexes_a_sale_writes(tmp_path: Path) -> None:
    floor = SaleFloor(tmp_path / "floor.db")
    try:
        ids = floor.orders(4)
        for order_id in ids[:-1]:
            floor.conn.execute("BEGIN IMMEDIATE")
            floor.sell(order_id)
            floor.conn.execute("COMMIT")
        before = (tmp_path / "floor.db-wal").stat().st_size
        floor.conn.execute("BEGIN IMMEDIATE")
        floor.sell(ids[-1])
        floor.conn.execute("COMMIT")
        written = _written(tmp_path / "floor.db", before)  # before the close folds the WAL in
    finally:
        floor.close()
    assert written == _sale_writes(tmp_path)
    assert {"receipts", "orders", "orders_by_state", "receipts_by_kind_time"} <= written


def test_the_floor_signs_a_chain(tmp_path: Path) -> None:
    floor = SaleFloor(tmp_path / "floor.db")
    try:
        ids = floor.orders(3)
        floor.conn.execute("BEGIN IMMEDIATE")
        for order_id in ids:
            floor.sell(order_id)
        floor.conn.execute("COMMIT")
        lines = [row[0] for row in floor.conn.execute("SELECT line FROM receipts ORDER BY seq")]
        states = {row[0] for row in floor.conn.execute("SELECT state FROM orders")}
        public = floor.key.public_key()
    finally:
        floor.close()
    assert states == {"paid"}
    previous = bytes(16)
    for seq, line in enumerate(lines):
        body, signature = line.rsplit(";", 1)
        assert body.split(";")[4] == str(seq)
        assert body.split(";")[10] == b64(previous)
        public.verify(base64.urlsafe_b64decode(signature + "=="), PREFIX + body.encode())
        previous = hashlib.sha256(line.encode()).digest()[:16]
