"""A pass read at the console, applied to an open order: its discounts, counted on the box.

The console opens the order with its lines, then hands the pass text it read (typed, pasted or
from a USB scanner). In one write transaction: the order's earlier discounts are dropped, what
each allowance has left is counted from the stored redemptions of that pass and period (the
phone's orders and the console's alike), and the discounts are written with the order. So the
same pass text shown twice — a phone, then a screenshot at the console — redeems once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from appliance.domain.orders import Order
from appliance.passes.model import Pass
from appliance.services.box import Box
from appliance.services.passes import PassDesk
from appliance.store import orders as orders_sql


async def apply_pass(box: Box, desk: PassDesk, order_id: str, card: Pass) -> Order:
    """Put a verified pass's discounts on an open order (replacing any it had)."""
    discount = desk.discount(card)

    def tx(conn: sqlite3.Connection) -> Order:
        plain = replace(orders_sql.load_order(conn, order_id), discounts=())
        plain.with_discounts(())  # TransitionRefused unless the order is open
        orders_sql.replace_lines(conn, plain)  # its own discounts no longer count as used
        order = discount(conn, plain)
        orders_sql.replace_lines(conn, order)
        orders_sql.update_order(conn, order, desk.clock())
        return order

    return await box.writer.run(tx)
