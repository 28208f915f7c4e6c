"""A checkout process for the crash test: sells in a loop, reporting each sale once durable.

Usage: python crash_child.py STATE_DIR
Prints `SOLD <seq> <order id>` after each confirmation has committed. The parent kills this
process with SIGKILL at random moments; every reported sale must survive.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from appliance.services.box import Box
from appliance.services.checkout import Checkout

CONCURRENT = 8


async def sell_one(checkout: Checkout, sku: str) -> None:
    order = await checkout.create_order()
    await checkout.add_line(order.id, sku, 1)
    await checkout.choose_tender(order.id, "cash")
    done = await checkout.confirm(order.id)
    assert done.receipt is not None
    sys.stdout.write(f"SOLD {done.receipt.seq} {order.id}\n")
    sys.stdout.flush()


async def main(state_dir: Path) -> None:
    box = Box.open(state_dir, "BRL")
    checkout = Checkout(box)
    from appliance.domain.catalog import Item
    from appliance.domain.money import Money
    from appliance.store.orders import sync_catalog

    await box.writer.run(
        lambda conn: sync_catalog(conn, [Item("tea", "Tea", Money(500, "BRL"), None)])
    )
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    try:
        while True:
            await asyncio.gather(*(sell_one(checkout, "tea") for _ in range(CONCURRENT)))
    finally:
        box.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
