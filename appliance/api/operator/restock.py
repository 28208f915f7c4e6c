"""Operator routes of restocking: change an item's stock mid-night, and list the recorded moves.

`POST /api/catalog/{sku}/stock` adds `qty` units (`mode` add) or sets the count (`mode` set); each change is a
row of the append-only stock_moves (appliance/services/restock.py). Consoles hear a `catalog`
event so every sell screen shows the new stock.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator.convert import item_out
from appliance.api.operator.operator import body, json_response, node_of, operator
from appliance.api.season_schemas import RestockRequest, StockMoveOut
from appliance.services.restock import recent_moves, restock


@operator
async def change_stock(request: Request) -> Response:
    """Add to an item's stock or set it; the item as it now stands."""
    node = node_of(request)
    asked = await body(request, RestockRequest)
    sku = request.path_params["sku"]
    item = await restock(
        node.box, sku, add=asked.qty if asked.mode == "add" else None,
        set_to=asked.qty if asked.mode == "set" else None, operator=asked.operator,
        note=asked.note, at=node.checkout.clock(),
    )  # fmt: skip
    node.events.publish("catalog", {"sku": item.sku, "stock": item.stock})
    return json_response(item_out(item))


@operator
async def stock_moves(request: Request) -> Response:
    """The latest recorded restocks, newest first."""
    moves = await recent_moves(node_of(request).box)
    return json_response([StockMoveOut(m.at, m.sku, m.delta, m.stock, m.operator, m.note)
                          for m in moves])  # fmt: skip


def routes() -> list[BaseRoute]:
    """The restock routes."""
    return [
        Route("/api/catalog/{sku:str}/stock", change_stock, methods=["POST"]),
        Route("/api/stock-moves", stock_moves),
    ]
