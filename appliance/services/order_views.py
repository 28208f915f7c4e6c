"""Reads of orders and the catalogue for the attendee pages and the operator console.

The handlers are thin (DESIGN §7): they parse, call these and render. Each read is one
snapshot through the writer's read connection, as the handlers ran it before; the SQL is in
appliance/store/orders.py, evidence.py, drops.py and ledger.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Mapping

from appliance.domain.catalog import Item
from appliance.domain.orders import Order, OrderState
from appliance.domain.policy import Decision
from appliance.domain.reconcile import EvidenceState
from appliance.passes.model import Pass
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.passes import PassDesk
from appliance.store import drops as drops_sql
from appliance.store import evidence as evidence_sql
from appliance.store import ledger as ledger_sql
from appliance.store import orders as orders_sql
from appliance.store.drops import Claim
from appliance.store.ledger import StoredReceipt

Quote = tuple[list[tuple[Item, int]], Order | None, list[str]]


def list_items(box: Box) -> Awaitable[list[Item]]:
    """The active catalogue with stock (a plain call: the caller awaits the writer's read)."""
    return box.writer.read(orders_sql.list_items)


async def orders_in(box: Box, state: OrderState) -> tuple[list[Order], dict[str, EvidenceState]]:
    """Orders in one state, oldest first, with their payment evidence states."""

    def read(conn: sqlite3.Connection) -> tuple[list[Order], dict[str, EvidenceState]]:
        orders = orders_sql.orders_by_state(conn, state)
        return orders, evidence_sql.payment_states(conn, [o.id for o in orders])

    return await box.writer.read(read)


async def payment_states(box: Box, order_id: str) -> dict[str, EvidenceState]:
    """One order's payment evidence state, keyed by its id (empty when it has none)."""
    return await box.writer.read(lambda conn: evidence_sql.payment_states(conn, [order_id]))


async def recent_decisions(box: Box, limit: int) -> list[Decision]:
    """The latest policy decisions, newest first."""
    return await box.writer.read(lambda conn: orders_sql.recent_decisions(conn, limit))


async def claim_of_order(box: Box, order_id: str) -> Claim | None:
    """The drop claim an order was built for, if any."""
    return await box.writer.read(lambda conn: drops_sql.claim_of_order(conn, order_id))


async def receipt_view(
    box: Box, order_id: str
) -> tuple[StoredReceipt | None, dict[str, EvidenceState], object]:
    """An order's stored receipt, its evidence states and the cash received, from one snapshot."""
    return await box.writer.read(
        lambda conn: (
            _receipt_of(conn, order_id),
            evidence_sql.payment_states(conn, [order_id]),
            orders_sql.order_column(conn, order_id, "cash_received"),
        )
    )


async def stored_receipt(box: Box, order_id: str) -> StoredReceipt | None:
    """An order's stored receipt line, once it has one."""
    return await box.writer.read(lambda conn: _receipt_of(conn, order_id))


def _receipt_of(conn: sqlite3.Connection, order_id: str) -> StoredReceipt | None:
    seq = orders_sql.order_column(conn, order_id, "receipt_seq")
    return None if seq is None else ledger_sql.get_receipt(conn, int(str(seq)))


async def cart_quote(
    checkout: Checkout,
    passes: PassDesk,
    card: Pass | None,
    wanted: Mapping[str, int],
    items: dict[str, Item],
) -> Quote:
    """The chosen items, the order they make and the tenders offered for it, from one snapshot.

    With a verified pass `card`, its discounts as the order would get them now; `items` is
    filled with the snapshot's catalogue (the upsell's item is read from it).
    """
    policy = checkout.policy

    def read(conn: sqlite3.Connection) -> Quote:
        items.update((i.sku, i) for i in orders_sql.list_items(conn))
        chosen = [(items[sku], qty) for sku, qty in wanted.items() if sku in items]
        if not chosen:
            return chosen, None, []
        order = checkout.new_order(conn, chosen)
        if card is not None:
            order = passes.discount(card)(conn, order)
        return chosen, order, policy.offered_tx(conn, order.total)

    return await checkout.box.writer.read(read)
