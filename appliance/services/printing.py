"""From a paid order to a paper receipt: what the attendee's receipt page shows, queued to print.

The node owns the printer (it is plugged into the box); consoles ask it to print after a sale
and to reprint (`p` on the receipt screen). Nothing here can fail a sale: the order is read
after its commit, and the job goes to appliance/printing/queue.py, which turns a printer that
raises into an alarm.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from appliance.config import Config
from appliance.domain.errors import OrderError
from appliance.domain.orders import Order, OrderState
from appliance.ledger.receipt import parse_receipt
from appliance.printing.receipt_text import Line, PaperReceipt
from appliance.services.checkout import Checkout
from appliance.store import ledger as ledger_sql
from appliance.store import orders as orders_sql

if TYPE_CHECKING:
    from appliance.printing.queue import PrintQueue, Publish


def _receipt_of(conn: sqlite3.Connection, order_id: str) -> ledger_sql.StoredReceipt | None:
    seq = orders_sql.order_column(conn, order_id, "receipt_seq")
    return None if seq is None else ledger_sql.get_receipt(conn, int(str(seq)))


def paper_receipt(
    order: Order,
    stored: ledger_sql.StoredReceipt | None,
    stall: str,
    *,
    received: int | None = None,
    reprint: bool = False,
) -> PaperReceipt:
    """The paper receipt of a paid order, at the receipt's signed time in the box's zone."""
    when: datetime = order.created_at
    if stored is not None:
        when = parse_receipt(stored.line).time
    return PaperReceipt(
        stall=stall,
        number=order.number,
        lines=tuple(Line(ln.qty, ln.name, ln.total.minor) for ln in order.lines)
        + tuple(Line(1, d.name, -d.amount.minor) for d in order.discounts),  # a pass's
        total=order.total.minor,
        currency=order.currency,
        tender=order.tender or "cash",
        reference=order.reference,
        time=when.astimezone(),
        seq=stored.seq if stored is not None else None,
        receipt_line=stored.line if stored is not None else None,
        received=received if order.tender in (None, "cash") else None,
        reprint=reprint,
    )


async def receipt_for(
    checkout: Checkout, order_id: str, stall: str, *, received: int | None, reprint: bool
) -> PaperReceipt:
    """Read a paid order and its receipt; NotFound unless it is paid."""
    order = await checkout.get_order(order_id)
    if order.state is not OrderState.PAID:
        raise OrderError(f"order {order_id} is {order.state.value}, not paid: nothing to print")
    stored = await checkout.box.writer.read(lambda conn: _receipt_of(conn, order_id))
    return paper_receipt(order, stored, stall, received=received, reprint=reprint)


def printer_queue(config: Config, publish: Publish) -> PrintQueue | None:
    """The node's print queue for `[printer]`, or None when no device is configured."""
    if not config.printer_device:
        return None
    from appliance.printing.device import opener  # python-escpos's printers: only when used
    from appliance.printing.escpos_job import PaperSettings
    from appliance.printing.queue import PrintQueue, device_sink

    paper = PaperSettings(
        width_mm=config.printer_width_mm, locale=config.locale, cut=config.printer_cut,
        drawer=config.printer_drawer, profile=config.printer_profile,
    )  # fmt: skip
    return PrintQueue(
        device_sink(opener(config.printer_device, paper.profile_name)), paper, publish
    )
