"""Domain objects to API response types."""

from __future__ import annotations

from appliance.api.schemas import ConfirmOut, DecisionOut, ItemOut, LineOut, OrderOut, ReceiptOut
from appliance.domain.catalog import Item
from appliance.domain.orders import Order
from appliance.domain.policy import Decision
from appliance.domain.reconcile import EvidenceState
from appliance.services.checkout import Confirmation


def item_out(item: Item) -> ItemOut:
    """An item as the API shows it."""
    return ItemOut(
        item.sku, item.name, item.price.minor, item.price.decimal(), item.price.currency, item.stock
    )


def order_out(order: Order, evidence: EvidenceState | None = None) -> OrderOut:
    """An order as the API shows it, with its payment evidence state when it is a QR sale."""
    return OrderOut(
        id=order.id,
        number=order.number,
        state=order.state.value,
        currency=order.currency,
        total=order.total.minor,
        total_text=order.total.decimal(),
        lines=[
            LineOut(ln.sku, ln.name, ln.qty, ln.unit_price.minor, ln.total.minor)
            for ln in order.lines
        ]
        + [  # a pass's discount: a line at minus its amount, as on the receipt (docs/passes.md)
            LineOut(d.sku, d.name, 1, -d.amount.minor, -d.amount.minor) for d in order.discounts
        ],
        tender=order.tender,
        reference=order.reference,
        note=order.note,
        created_at=order.created_at.isoformat(),
        ready_at=None if order.ready_at is None else order.ready_at.isoformat(),
        evidence=evidence,
    )


def decision_out(decision: Decision) -> DecisionOut:
    """A policy decision as the API shows it."""
    return DecisionOut(
        decision.rail, decision.amount.minor, decision.verdict.value,
        decision.reason, decision.at.isoformat(), decision.operator,
    )  # fmt: skip


def confirm_out(done: Confirmation) -> ConfirmOut:
    """A confirmation's outcome as the API shows it."""
    receipt = None if done.receipt is None else ReceiptOut(done.receipt.seq, done.receipt.line)
    return ConfirmOut(done.accepted, order_out(done.order), decision_out(done.decision), receipt)
