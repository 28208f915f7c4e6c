"""Voids as a hostile operator would try them: each sale voids once, a void is never paid again.

What is stored is read back after every refusal: the receipts, the orders and the stock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from services_support import Clock

from appliance.domain.errors import TransitionRefused
from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box
from appliance.services.checkout import Checkout


def stored(box: Box) -> list[Any]:
    def read(conn: Any) -> list[Any]:
        return [
            conn.execute("SELECT seq, kind, line FROM receipts ORDER BY seq").fetchall(),
            conn.execute("SELECT id, state, receipt_seq, void_seq FROM orders").fetchall(),
            conn.execute("SELECT sku, stock FROM items ORDER BY sku").fetchall(),
        ]

    return box.writer.run_sync(read)


def test_a_sale_voids_once_and_a_voided_or_unpaid_order_is_refused(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def scenario() -> None:
        sold = await checkout.place_order([("pastel", 2)], "cash")
        waiting = await checkout.place_order([("pastel", 1)], "cash")
        await checkout.confirm(sold.order.id)
        with pytest.raises(TransitionRefused, match="order is paid, cannot become cancelled"):
            await checkout.cancel(sold.order.id)
        void = await checkout.void(sold.order.id)
        assert void.kind is ReceiptType.VOID and void.total == 1900
        after = stored(box)
        attempts = [
            (checkout.void(sold.order.id), "order is voided, cannot become voided"),
            (checkout.confirm(sold.order.id), "order is voided, cannot become paid"),
            (checkout.cancel(sold.order.id), "order is voided, cannot become cancelled"),
            (checkout.void(waiting.order.id), "order is awaiting_payment, cannot become voided"),
        ]
        for attempt, refusal in attempts:
            with pytest.raises(TransitionRefused, match=refusal):
                await attempt
            assert stored(box) == after  # no receipt, no state, no stock moved

    asyncio.run(scenario())
