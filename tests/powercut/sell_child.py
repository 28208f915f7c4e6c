"""A selling process for the power-cut tests: `stallbox init` if needed, then sell in a loop.

Usage: python sell_child.py STATE_DIR [--weak]
Prints START before init, `INIT <seconds init took>` after it, READY when it sells, and
`SOLD <seq> <order id>` after each confirmation has committed. With --weak (the teeth
test only) the store is opened with synchronous=NORMAL, which WAL does not fsync per commit:
a power cut must then lose sales this process already reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from appliance.domain.catalog import Item
from appliance.domain.money import Money
from appliance.services.box import Box, init_state
from appliance.services.checkout import Checkout
from appliance.store import connection
from appliance.store.checkpoint import Checkpointer
from appliance.store.errors import StoreError
from appliance.store.orders import sync_catalog

CONCURRENT = 8


def weaken() -> None:
    """Open every connection with synchronous=NORMAL (the bug the harness must catch)."""
    connection.PRAGMAS = tuple(  # type: ignore[assignment]
        "PRAGMA synchronous = NORMAL" if p == "PRAGMA synchronous = FULL" else p
        for p in connection.PRAGMAS
    )


async def sell_one(checkout: Checkout) -> None:
    order = await checkout.create_order()
    await checkout.add_line(order.id, "tea", 1)
    await checkout.choose_tender(order.id, "cash")
    done = await checkout.confirm(order.id)
    assert done.receipt is not None
    sys.stdout.write(f"SOLD {done.receipt.seq} {order.id}\n")
    sys.stdout.flush()


async def checkpoint_often(checkpointer: Checkpointer) -> None:
    """The node's checkpoints, from their own connection and thread, every 20 ms."""
    while True:
        await asyncio.sleep(0.02)
        with contextlib.suppress(StoreError):  # a cut's I/O errors: the process dies next anyway
            await checkpointer.checkpoint()


async def sell(state: Path, checkpoints_too: bool) -> None:
    box = Box.open(state, "BRL")
    checkout = Checkout(box)
    item = Item("tea", "Tea", Money(500, "BRL"), None)
    await box.writer.run(lambda conn: sync_catalog(conn, [item]))
    # Checkpoint every 100 WAL pages, not SQLite's 1000, so that a short power-on checkpoints
    # several times and the test can cut in the middle of one (the same code, more often);
    # and beside those, the node's own checkpoints (appliance/store/checkpoint.py) from their
    # connection and thread, so a cut also lands in one of those.
    await box.writer.run(lambda conn: conn.execute("PRAGMA wal_autocheckpoint = 100"))
    # (Not with --weak: a checkpoint fsyncs the log first, which would hide the teeth test's loss.)
    checkpointer = Checkpointer(box.writer)
    checkpoints = asyncio.create_task(checkpoint_often(checkpointer)) if checkpoints_too else None
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    try:
        while True:
            await asyncio.gather(*(sell_one(checkout) for _ in range(CONCURRENT)))
    finally:
        if checkpoints is not None:
            checkpoints.cancel()
        checkpointer.close()
        box.close()


def main(argv: list[str]) -> int:
    """Initialise (or finish initialising) the state dir, then sell until killed."""
    state = Path(argv[0])
    if "--weak" in argv:
        weaken()
    sys.stdout.write("START\n")
    sys.stdout.flush()
    started = time.monotonic()
    init_state(state, "BRL", datetime.now(UTC))
    sys.stdout.write(f"INIT {time.monotonic() - started:.3f}\n")
    sys.stdout.flush()
    asyncio.run(sell(state, checkpoints_too="--weak" not in argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
