"""Operator routes for a pass read at the console: check it, and apply it to the current sale.

`POST /api/passes/read` verifies a pass's text offline (as the attendee pages do) and says who
holds it and what it grants, so the vendor sees it before the sale is opened. `POST
/api/orders/{order_id}/pass` applies it to an open order: its discounts, with the allowance
counted on the box per pass id and period (services/pass_orders.py). A refused pass is a 409
whose `error` starts with the verifier's reason (`revoked: …`, `expired: …`) and whose `field`
is `pass`; nothing is stored.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator.convert import order_out
from appliance.api.operator.operator import body, json_response, node_of, operator
from appliance.api.pass_schemas import PassOut, PassRequest
from appliance.api.schemas import Problem
from appliance.passes.errors import PassRefused
from appliance.passes.model import Entitlement, Kind, Pass
from appliance.services.pass_orders import apply_pass


def grant_words(e: Entitlement) -> str:
    """One entitlement in words, for the vendor."""
    on = f" on {', '.join(e.targets)}" if e.targets else ""
    if e.kind is Kind.PERCENT_OFF:
        return f"{e.value}% off{on}"
    if e.kind is Kind.AMOUNT_OFF:
        return f"{e.value} {e.currency} minor units off{on}"
    if e.kind is Kind.EARLY_ACCESS:
        return f"early access {e.value} min" + (f" to drops {', '.join(e.targets)}" if on else "")
    period = "event" if e.period is None or e.period.value == 1 else "day"
    return f"{e.value} free per {period}{on}"


def pass_out(card: Pass) -> PassOut:
    """A verified pass as the API shows it."""
    grants = [grant_words(e) for e in card.entitlements]
    return PassOut(card.pass_id, card.issuer, card.holder, card.valid_until, grants)


def refused(exc: PassRefused) -> Response:
    """409 naming the field `pass`; the error starts with the reason."""
    return json_response(Problem(str(exc), "pass"), 409)


@operator
async def read_pass(request: Request) -> Response:
    """Verify a pass read at the console; who holds it and what it grants."""
    asked = await body(request, PassRequest)
    try:
        card = node_of(request).passes.verify(asked.text)
    except PassRefused as exc:
        return refused(exc)
    return json_response(pass_out(card))


@operator
async def order_pass(request: Request) -> Response:
    """Apply a pass read at the console to an open order; the order with its discounts."""
    node = node_of(request)
    asked = await body(request, PassRequest)
    try:
        card = node.passes.verify(asked.text)
    except PassRefused as exc:
        return refused(exc)
    order = await apply_pass(node.box, node.passes, request.path_params["order_id"], card)
    node.events.publish("order", {"id": order.id, "state": order.state.value})
    return json_response(order_out(order))


def routes() -> list[BaseRoute]:
    """The console's pass routes (operator plane, token required)."""
    return [
        Route("/api/passes/read", read_pass, methods=["POST"]),
        Route("/api/orders/{order_id:str}/pass", order_pass, methods=["POST"]),
    ]
