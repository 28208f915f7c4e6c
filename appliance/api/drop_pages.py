"""Drop pages: pre-rendered into memory before the start, claims handled at the start.

Before a drop opens its page is a fixed countdown, rendered once when the drop is scheduled and
served from memory, and every payment code it will need is built in a thread — so the rush at
the start costs the box only the claims themselves.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from appliance.api.attendee import (
    VISITOR,
    _wanted,
    client_address,
    limited,
    money,
    node_of,
    page,
    remember,
)
from appliance.domain.drops import Drop
from appliance.domain.errors import DomainError
from appliance.payments.errors import PaymentError
from appliance.services.checkout import utc_now


async def _context(request: Request, drop: Drop, left: int) -> dict[str, Any]:
    # The tenders the offline policy accepts for one unit now; a claim of more is decided, and
    # refused with the remaining choices if need be, when it is made.
    tenders = await node_of(request).checkout.offered(drop.price)
    return {
        "drop": drop, "price_text": money(request, drop.price), "left": left,
        "open": drop.started(utc_now()), "starts_iso": drop.starts_at.isoformat(),
        "starts_text": drop.starts_at.strftime("%H:%M:%S UTC"), "refresh_s": 5,
        "tenders": tenders,
    }  # fmt: skip


async def prepare_drop(request: Request, drop: Drop) -> None:
    """Render the countdown page into memory and build the drop's payment codes in a thread."""
    node = node_of(request)
    html = page(request, "drop.html", **await _context(request, drop, drop.quantity)).body
    node.drop_pages[drop.id] = bytes(html)
    task = asyncio.create_task(
        asyncio.to_thread(node.drops.prerender, drop), name=f"prerender-drop-{drop.id}"
    )
    node.background.add(task)
    task.add_done_callback(node.background.discard)


async def drop_page(request: Request) -> Response:
    """The drop: a countdown from memory before the start, then units left and the claim form."""
    node = node_of(request)
    drop_id = int(request.path_params["drop_id"])
    cached = node.drop_pages.get(drop_id)
    drop = await node.drops.drop(drop_id)
    if cached is not None and not drop.started(utc_now()):
        return HTMLResponse(cached, headers={"Cache-Control": "no-store"})
    left = await node.drops.left(drop)
    return page(
        request,
        "drop.html",
        error=request.query_params.get("error"),
        **await _context(request, drop, left),
    )


async def claim(request: Request) -> Response:
    """Claim units: a hold at the next place in line, then the pay page; 409 page when refused."""
    if (refused := limited(request)) is not None:
        return refused
    node = node_of(request)
    drop_id = int(request.path_params["drop_id"])
    fields, _note, tender = await _wanted(request)
    qty = fields.get("qty", 1)
    # The claimant is the phone's address, whatever its cookie says: one address, one
    # per-attendee allowance (docs/security.md, "Fair drops").
    attendee = node.visitors.client(client_address(request))
    try:
        claimed = await node.drops.claim(drop_id, attendee, qty, tender or "cash")
    except (DomainError, PaymentError) as exc:
        drop = await node.drops.drop(drop_id)
        left = await node.drops.left(drop)
        return page(
            request, "drop.html", status=409, error=str(exc), **await _context(request, drop, left)
        )
    order = claimed.tendered.order
    for expired in claimed.expired:
        node.events.publish("order", {"id": expired, "state": "expired"})
    node.events.publish("drop", {"id": drop_id, "left": claimed.units_left})
    node.events.publish("order", {"id": order.id, "state": order.state.value})
    response = Response(status_code=303, headers={"Location": f"/o/{order.id}/pay"})  # hex id
    if node.visitors.verify(request.cookies.get(VISITOR)) is None:
        remember(response, node.visitors.issue())
    return response


def routes() -> list[BaseRoute]:
    """The drop pages' routes."""
    return [
        Route("/d/{drop_id:int}", drop_page),
        Route("/d/{drop_id:int}/claim", claim, methods=["POST"]),
    ]
