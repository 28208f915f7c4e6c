"""The ledger bench's box: a fresh state selling one tea, and cash orders rung up ready to confirm.

A module of its own, without side effects, so that tests/bench/test_sale_floor.py builds the very
box bench/ledger.py measures (bench/ledger.py is a script: importing it puts the repo first on
sys.path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from appliance.domain.catalog import Item
from appliance.domain.money import Money
from appliance.services.box import Box, init_state
from appliance.services.checkout import Checkout
from appliance.store.orders import sync_catalog

TEA = Item("tea", "Tea", Money(500, "BRL"), None)


@asynccontextmanager
async def tea_box(state: Path) -> AsyncIterator[tuple[Box, Checkout]]:
    """A new box in `state` (BRL) whose catalogue is one tea, and its checkout; closed after."""
    init_state(state, "BRL", datetime.now(UTC))
    box = Box.open(state, "BRL")
    try:
        await box.writer.run(lambda conn: sync_catalog(conn, [TEA]))
        yield box, Checkout(box)
    finally:
        box.close()


async def prepare(checkout: Checkout, n: int) -> list[str]:
    """Orders of one tea waiting for a cash payment, ready to confirm."""
    ids = []
    for _ in range(n):
        order = await checkout.create_order()
        await checkout.add_line(order.id, TEA.sku, 1)
        await checkout.choose_tender(order.id, "cash")
        ids.append(order.id)
    return ids
