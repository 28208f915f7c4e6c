"""A pass bought at the stall, on the attendee's receipt page: kept on the phone, a QR, a link.

Once the order is paid, its receipt page shows each pass the box issued for it (services/
pass_sales.py) and marks it `data-issued-pass`: the pages' script (base.html) keeps it in the
phone's localStorage, where the menu and drop pages already read a presented pass from
(`stallbox.pass`, api/attendee/pass_pages.py), so the next order and the next drop use it by themselves.
The QR holds the pass text alone (QR alphanumeric mode: Base45 needs nothing else), for the
console's reader; the link is the menu's URL with the pass in the fragment, which never leaves
the phone.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import qrcode
import qrcode.constants
from qrcode.util import MODE_ALPHA_NUM, QRData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.node import Node
from appliance.domain.orders import Order, OrderState
from appliance.payments.render import render_png
from appliance.store.errors import NotFound

QR_HEADERS = {"Cache-Control": "private, max-age=3600"}  # the order's URL is its capability


def pass_qr_png(text: str) -> bytes:
    """The pass text as one QR alphanumeric segment (as an EU DCC), level M, as PNG.

    ~50 ms here (qrcode picks the mask), so off the event loop; the phone keeps it an hour.
    """
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(QRData(text, MODE_ALPHA_NUM))  # Base45 and the prefix are all alphanumeric
    code.make(fit=True)
    return render_png(tuple(tuple(row) for row in code.get_matrix()), 8)


def pass_link(text: str) -> str:
    """The pass link: the menu with the pass in the fragment (docs/passes.md, "Presenting")."""
    return "/#pass=" + quote(text, safe="")


async def issued_view(node: Node, order: Order) -> list[dict[str, Any]]:
    """The passes issued for a paid order, as the receipt page shows them (none otherwise)."""
    if node.pass_sales is None or order.state is not OrderState.PAID:
        return []
    return [
        {"idx": one.idx, "pass_id": one.pass_id, "holder": one.holder, "text": one.text,
         "link": pass_link(one.text)}
        for one in await node.pass_sales.issued(order.id)
    ]  # fmt: skip


async def pass_png(request: Request) -> Response:
    """An issued pass's QR (the pass text in alphanumeric mode) as PNG."""
    node: Node = request.app.state.node
    order = await node.checkout.get_order(request.path_params["order_id"])
    wanted = request.path_params["idx"]
    shown = [one for one in await issued_view(node, order) if one["idx"] == wanted]
    if not shown:
        raise NotFound("this order has no such pass")
    png = await asyncio.to_thread(pass_qr_png, shown[0]["text"])  # off the loop
    return Response(png, media_type="image/png", headers=QR_HEADERS)


def routes() -> list[BaseRoute]:
    """The issued pass's QR route."""
    return [Route("/o/{order_id:str}/pass/{idx:int}.png", pass_png)]
