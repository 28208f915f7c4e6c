"""The operator plane's side of customer displays and the receipt printer.

A console asks for a code its display types on the attendee plane's /display page, and tells
the node what its display shows now (cart, pay, paid, idle). For pay and paid the console names
the order and the node reads the lines, total, reference and payment code itself, so a display
shows the code the node would serve for that order and nothing a request made up.
The printer: its state (for the console's alarm line), and printing or reprinting a paid
order's receipt (queued: the answer never waits for paper).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.locale import format_money
from appliance.api.node import Node
from appliance.api.operator.operator import attendee_url, body, json_response, node_of, operator
from appliance.api.schemas import (
    DisplayCart,
    DisplayCodeOut,
    DisplayCodeRequest,
    DisplayOrder,
    DisplayShown,
    PrinterOut,
    PrintQueued,
    PrintRequest,
)
from appliance.domain.errors import OrderError
from appliance.domain.money import Money
from appliance.domain.orders import Order, OrderState
from appliance.services.display import CODE_TTL_S
from appliance.services.printing import receipt_for


@operator
async def display_code(request: Request) -> Response:
    """A one-time code for a customer display to follow this console."""
    node = node_of(request)
    asked = await body(request, DisplayCodeRequest)
    code = node.display_pairing.new_code(asked.console, time.time())
    url = f"{attendee_url(request)}/display"
    return json_response(DisplayCodeOut(code, asked.console, CODE_TTL_S, url))


@operator
async def display_cart(request: Request) -> Response:
    """Show what this console is ringing up on its customer display (no lines: idle)."""
    node = node_of(request)
    asked = await body(request, DisplayCart)
    view: dict[str, Any] = {"phase": "idle", "stall": node.config.stall_name}
    if asked.lines:
        currency = node.config.currency
        view["phase"] = "cart"
        view["lines"] = [
            {"qty": ln.qty, "name": ln.name, "total": _money(node, ln.total, currency)}
            for ln in asked.lines
        ]
        view["total"] = _money(node, sum(ln.total for ln in asked.lines), currency)
    if asked.order_id is not None:
        node.display_orders.link(asked.order_id, asked.console)
    displays = node.display_hub.show(asked.console, view)
    return json_response(DisplayShown(asked.console, view["phase"], displays))


@operator
async def display_order(request: Request) -> Response:
    """Show an order's payment (pay) or outcome (paid) on this console's customer display."""
    node = node_of(request)
    asked = await body(request, DisplayOrder)
    view = await order_view(node, asked)
    displays = node.display_hub.show(asked.console, view)
    return json_response(DisplayShown(asked.console, asked.phase, displays))


def _money(node: Node, minor: int, currency: str) -> str:
    return format_money(Money(minor, currency), node.config.locale)


async def order_view(node: Node, asked: DisplayOrder) -> dict[str, Any]:
    """The JSON a display draws for an order: amounts in the stall's locale, the QR as SVG."""
    order = await node.checkout.get_order(asked.order_id)
    view: dict[str, Any] = {"phase": asked.phase, "stall": node.config.stall_name}
    view |= _order_view(node, order)
    if asked.phase == "pay":
        if order.state is not OrderState.AWAITING_PAYMENT or order.tender is None:
            raise OrderError(f"order {order.id} is not awaiting a payment", "order_id")
        view["qr"] = None
        if order.tender != "cash":
            tender, amount, ref = order.tender, order.total, order.reference
            view["qr"] = await asyncio.to_thread(lambda: node.rails.qr(tender, amount, ref).svg)
        return view
    if order.state is not OrderState.PAID:
        raise OrderError(f"order {order.id} is {order.state.value}, not paid", "order_id")
    if order.tender in (None, "cash") and asked.received is not None:
        change = max(0, asked.received - order.total.minor)
        view["change"] = _money(node, change, order.currency)
    return view


def _order_view(node: Node, order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "lines": [
            {"qty": ln.qty, "name": ln.name, "total": _money(node, ln.total.minor, order.currency)}
            for ln in order.lines
        ],
        "total": _money(node, order.total.minor, order.currency),
        "tender": order.tender or "",
        "reference": order.reference,
    }


@operator
async def printer_state(request: Request) -> Response:
    """The receipt printer: configured, its last outcome (the console's alarm), counts."""
    node = node_of(request)
    queue = node.printer
    if queue is None:
        return json_response(PrinterOut(False, True, "", "", 0, 0, node.config.printer_width_mm))
    s = queue.state
    return json_response(
        PrinterOut(True, s.ok, s.error, s.order_id, s.printed, s.failed, queue.paper.width_mm)
    )


@operator
async def print_receipt(request: Request) -> Response:
    """Queue a paid order's receipt for the printer (202); 409 naming `printer` if there is none."""
    node = node_of(request)
    asked = await body(request, PrintRequest)
    order_id = request.path_params["order_id"]
    receipt = await receipt_for(
        node.checkout, order_id, node.config.stall_name, received=asked.received,
        reprint=asked.reprint,
    )  # fmt: skip
    if node.printer is None:
        raise OrderError("no receipt printer is configured ([printer] device)", "printer")
    return json_response(PrintQueued(node.printer.submit(order_id, receipt), order_id), 202)


def routes() -> list[BaseRoute]:
    """Display and printer routes of the operator plane."""
    return [
        Route("/api/display/code", display_code, methods=["POST"]),
        Route("/api/display", display_cart, methods=["POST"]),
        Route("/api/display/order", display_order, methods=["POST"]),
        Route("/api/printer", printer_state),
        Route("/api/orders/{order_id:str}/print", print_receipt, methods=["POST"]),
    ]
