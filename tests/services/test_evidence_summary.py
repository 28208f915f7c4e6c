"""The per-rail evidence summary the daily close and GET /api/bank report: standing QR sales by
bank / unverified / unmatched, counted and summed, since the last close."""

from __future__ import annotations

import asyncio
import sqlite3

from services_support import Clock
from test_checkout import PrintedRails

from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.store import evidence as evidence_sql


def evidence(box: Box, order_id: str, state: str, clock: Clock) -> None:
    def tx(conn: sqlite3.Connection) -> None:
        seq, total = conn.execute(
            "SELECT o.receipt_seq, r.total FROM orders o JOIN receipts r ON r.seq = o.receipt_seq"
            " WHERE o.id = ?", (order_id,)).fetchone()  # fmt: skip
        items = {"state": state, "source": "sha256:" + "0" * 64,
                 "credit": "id:E1" if state == "bank" else ""}  # fmt: skip
        box.append(conn, kind=ReceiptType.EVIDENCE, at=clock(), total=total if state == "bank" else 0,
                   items=items, ref=f"{state[0]}{seq}", order_id=order_id)  # fmt: skip

    box.writer.run_sync(tx)


def test_the_summary_counts_standing_qr_sales_by_evidence_since_the_last_close(
    box: Box, clock: Clock
) -> None:
    checkout = Checkout(box, clock=clock, payments=PrintedRails())

    def sell(tender: str, qty: int) -> str:
        placed = asyncio.run(checkout.place_order([("pastel", qty)], tender))
        asyncio.run(checkout.confirm(placed.order.id))
        return placed.order.id

    evidence(box, sell("pix", 1), "bank", clock)
    asyncio.run(checkout.close_day())
    bank, fake, _seen, voided = (sell("pix", n) for n in (1, 2, 3, 1))
    sell("cash", 1)
    evidence(box, bank, "bank", clock)
    evidence(box, fake, "unmatched", clock)
    asyncio.run(checkout.void(voided))  # a voided sale is not standing
    found = {
        "close": box.writer.run_sync(evidence_sql.evidence_since_close),
        "all": box.writer.run_sync(evidence_sql.evidence_by_rail),
    }
    assert found["close"] == {"pix": {
        "sales": 3, "bank": 1, "unverified": 1, "unmatched": 1,
        "bank_minor": 950, "unverified_minor": 2850, "unmatched_minor": 1900,
    }}  # fmt: skip
    assert found["all"]["pix"]["sales"] == 4 and found["all"]["pix"]["bank"] == 2
