"""Operator route for handing over the passes a paid order issued (a cash sale at the console).

`GET /api/orders/{order_id}/passes` lists them — their QR text, holder and the product that sold
them — so the console can show each pass's QR full screen for the buyer to scan or photograph
when no attendee phone took part (tui/screens/pass_handover.py). An order that issued none (not
paid yet, or no pass product) lists none; an unknown order is a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator.operator import json_response, node_of, operator
from appliance.api.pass_schemas import IssuedPassOut


@operator
async def order_passes(request: Request) -> Response:
    """The passes a paid order issued, in order (none for an order that issued none)."""
    node = node_of(request)
    order = await node.checkout.get_order(request.path_params["order_id"])  # 404 if unknown
    issued = [] if node.pass_sales is None else await node.pass_sales.issued(order.id)
    return json_response(
        [IssuedPassOut(p.idx, p.sku, p.pass_id, p.holder, p.text, p.issued_at) for p in issued]
    )


def routes() -> list[BaseRoute]:
    """The hand-over route (operator plane, token required)."""
    return [Route("/api/orders/{order_id:str}/passes", order_passes)]
