"""Two boxes paid into one Pix account: a credit for one box's order must not sell the other's.

Order references are unique per device only (appliance/payments/reference.py: order 1 is "001"
plus a check symbol on every box), and the bank watch asks the PSP for every credit of the
account (docs/reconciliation.md, "Provider evidence"). So when two boxes of one vendor share a
Pix key, box B's waiting order with the same number and amount as box A's is confirmed by A's
payer's credit. Open: the fix is a per-box reference (a configured prefix, or one derived from
the device id), which changes what the QR codes and drop pre-rendering carry; see the report of
branch h-money. Marked xfail(strict) so that the fix turns it into a plain test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import CATALOG, T0, Clock
from test_bank_watch import SETTINGS, FakeProvider, pay
from test_checkout import PrintedRails

from appliance.services.bank_watch import BankWatch
from appliance.services.box import Box, init_state
from appliance.services.checkout import Checkout
from appliance.store.orders import sync_catalog


@pytest.mark.xfail(strict=True, reason="references are unique per box, not per Pix account")
def test_a_credit_for_box_a_does_not_sell_box_bs_order(
    box: Box, clock: Clock, tmp_path: Path
) -> None:
    init_state(tmp_path / "b", "BRL", T0)
    other = Box.open(tmp_path / "b", "BRL")
    other.writer.run_sync(lambda conn: sync_catalog(conn, CATALOG))
    provider = FakeProvider()  # one account, listed to both boxes' watches

    def watch(on: Box) -> BankWatch:
        checkout = Checkout(on, clock=clock, payments=PrintedRails())
        return BankWatch(checkout, provider, SETTINGS, lambda k, d: None, clock=clock)

    a, b = watch(box), watch(other)

    async def scenario() -> tuple[int, int]:
        sold_a = await a.checkout.place_order([("pastel", 1)], "pix")
        sold_b = await b.checkout.place_order([("pastel", 1)], "pix")
        assert sold_a.reference == sold_b.reference  # order 1 on each box
        clock.advance(seconds=20)
        pay(provider, clock, sold_a.reference, 950, 1)  # only A's payer paid
        return len(await a.poll_once()), len(await b.poll_once())

    try:
        assert asyncio.run(scenario()) == (1, 0)
    finally:
        other.close()
