"""The outbox: receipts after acked_seq, counted from the gapless seq."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box, init_state
from appliance.store import ledger as ledger_sql

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_depth_and_oldest_follow_acked_seq(tmp_path: Path) -> None:
    init_state(tmp_path / "s", "BRL", T0)
    box = Box.open(tmp_path / "s", "BRL")
    try:

        def sale(minute: int) -> Callable[[sqlite3.Connection], object]:
            return lambda conn: box.append(
                conn, kind=ReceiptType.SALE, at=T0 + timedelta(minutes=minute), total=100,
                items=[{"sku": "tea", "name": "Tea", "qty": 1, "unit": 100}],
            )  # fmt: skip

        for minute in range(1, 6):
            box.writer.run_sync(sale(minute))
        depth, oldest = box.writer.run_sync(ledger_sql.outbox)
        assert depth == 6 and oldest == T0.isoformat()  # the start receipt too
        count = box.writer.run_sync(
            lambda conn: conn.execute("SELECT count(*) FROM receipts").fetchone()[0]
        )
        assert depth == count
        box.writer.run_sync(lambda conn: ledger_sql.set_acked_seq(conn, 3, "now"))
        assert box.writer.run_sync(ledger_sql.outbox) == (
            2,
            (T0 + timedelta(minutes=4)).isoformat(),
        )
        box.writer.run_sync(lambda conn: ledger_sql.set_acked_seq(conn, 5, "now"))
        assert box.writer.run_sync(ledger_sql.outbox) == (0, None)
    finally:
        box.close()
