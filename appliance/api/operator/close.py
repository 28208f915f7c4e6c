"""Operator routes of the daily close: preview the open period, and sign the close with its report.

`GET /api/close` reports the period since the last close and signs nothing; `POST /api/close`
signs the close receipt and answers with the report of exactly the receipts it covers
(appliance/services/day_close.py). Registered by one line in operator.routes().
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator.operator import json_response, node_of, operator
from appliance.services import day_close


@operator
async def preview_close(request: Request) -> Response:
    """The report of the open period (since the last close); nothing is signed."""
    node = node_of(request)
    return json_response(await day_close.preview(node.box, node.checkout.clock()))


@operator
async def close_day(request: Request) -> Response:
    """Sign the daily close receipt; answer with the report of the period it closes."""
    node = node_of(request)
    report = await day_close.close_day(node.box, node.checkout.clock())
    await node.refresh_outbox()
    node.events.publish("close", {"seq": report.seq, "gross": report.gross})
    return json_response(report, 201)


def routes() -> list[BaseRoute]:
    """The close routes."""
    return [
        Route("/api/close", preview_close),
        Route("/api/close", close_day, methods=["POST"]),
    ]
