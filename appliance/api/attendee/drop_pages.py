"""Drop pages: pre-rendered into memory before the start, claims handled at the start.

Before a drop opens its page is a countdown, rendered once per language (the stall's when the
drop is scheduled, others on first asking) and served from memory with only the seconds left
filled in, and every payment code it will need is built in a thread — so the rush at the start
costs the box only the claims themselves. The countdown counts the server's seconds on the
phone's monotonic clock: a phone whose wall clock is off neither reloads early nor loops.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from appliance.api.attendee.attendee import (
    MENU_TTL_S,
    PAGE_HEADERS,
    VISITOR,
    client_address,
    error_code,
    limited,
    locale_of,
    node_of,
    remember,
    render,
)
from appliance.api.attendee.form_fields import BadField, bad_field, form_fields, quantity
from appliance.api.attendee.page_variants import COUNTDOWN_FIRST, drop_arm, drop_layout, page_key
from appliance.api.attendee.pass_pages import presented_in
from appliance.api.bounds import form_text
from appliance.api.locale import PageLocale
from appliance.domain.drops import Drop
from appliance.domain.errors import DomainError
from appliance.domain.orders import OrderState
from appliance.payments.errors import PaymentError
from appliance.services.checkout import utc_now
from appliance.store.errors import NotFound

SOLD_OUT_PAGES = 64  # refusal pages kept (drops x refusals x languages x layouts), then forgotten
LEFT_MARK = "0000000000"  # where a cached countdown gets its seconds left (digits: never escaped)
MAX_DROP_ID = 2**63 - 1  # SQLite's largest integer: a larger id in a path is no drop, not a 500


def seconds_left(drop: Drop, now: datetime) -> int:
    """Whole seconds until the drop opens, rounded up: at least 1 while it has not opened."""
    return max(1, math.ceil((drop.starts_at - now).total_seconds()))


def drop_id_of(request: Request) -> int:
    """The path's drop id; NotFound past SQLite's integers (the route takes any digits)."""
    drop_id = int(request.path_params["drop_id"])
    if drop_id > MAX_DROP_ID:
        raise NotFound(f"no drop {drop_id}")
    return drop_id


async def _context(
    request: Request, drop: Drop, left: int, locale: PageLocale, layout: str = COUNTDOWN_FIRST
) -> dict[str, Any]:
    # The tenders the offline policy accepts for one unit now; a claim of more is decided, and
    # refused with the remaining choices if need be, when it is made.
    tenders = await node_of(request).checkout.offered(drop.price)
    now = utc_now()
    return {
        "drop": drop, "price_text": locale.money(drop.price), "left": left,
        "open": drop.started(now), "seconds_left": seconds_left(drop, now),
        "starts_text": locale.time(drop.starts_at), "tenders": tenders, "layout": layout,
    }  # fmt: skip


async def _countdown(
    request: Request, drop: Drop, locale: PageLocale, layout: str = COUNTDOWN_FIRST
) -> bytes:
    """The drop's countdown page in `locale` and `layout`, with LEFT_MARK for its seconds left."""
    context = await _context(request, drop, drop.quantity, locale, layout)
    return render(request, "drop.html", locale, **{**context, "seconds_left": LEFT_MARK})


async def prepare_drop(request: Request, drop: Drop) -> None:
    """Render the countdown page into memory and build the drop's payment codes in a thread."""
    node = node_of(request)
    stall = node.languages.fallback  # the operator's request: render in the stall's language
    node.drop_pages[(drop.id, stall.tag)] = await _countdown(request, drop, stall)
    task = asyncio.create_task(
        asyncio.to_thread(node.drops.prerender, drop), name=f"prerender-drop-{drop.id}"
    )
    node.background.add(task)
    task.add_done_callback(node.background.discard)


async def drop_page(request: Request) -> Response:
    """The drop: a countdown from memory before the start, then units left and the claim form.

    The drop page flag's arm chooses the layout (api/attendee/page_variants.py); its views are measured.
    """
    started = time.perf_counter()
    node = node_of(request)
    drop_id = drop_id_of(request)
    locale = locale_of(request)
    drop = await node.drops.drop(drop_id)
    visitor = node.visitors.verify(request.cookies.get(VISITOR))
    arm = drop_arm(node, visitor)
    layout = drop_layout(arm)
    now = utc_now()
    if not drop.started(now):
        key = (drop_id, page_key(locale.tag, layout, COUNTDOWN_FIRST))
        cached = node.drop_pages.get(key)
        if cached is None:  # a language not asked for yet: at most one per catalog and region
            cached = node.drop_pages[key] = await _countdown(request, drop, locale, layout)
        filled = cached.replace(LEFT_MARK.encode(), str(seconds_left(drop, now)).encode(), 1)
        response = HTMLResponse(filled, headers=PAGE_HEADERS)
    else:
        left = await node.drops.left(drop)
        context = await _context(request, drop, left, locale, layout)
        response = HTMLResponse(
            render(request, "drop.html", locale, **context), headers=PAGE_HEADERS
        )
    if arm is not None:  # the arm's figures for the canary judge (services/flags.py)
        node.flags.viewed(arm, time.perf_counter() - started, visitor or "")
    return response


async def claim(request: Request) -> Response:
    """Claim units: a hold at the next place in line, then the pay page; 409 page when refused."""
    if (refused := limited(request)) is not None:
        return refused
    node = node_of(request)
    drop_id = drop_id_of(request)
    try:
        fields = await _form(request)
        qty, tender = _claim_fields(fields)
    except BadField as exc:  # nothing held
        return bad_field(exc)
    # The claimant is the phone's address, whatever its cookie says: one address, one
    # per-attendee allowance (docs/security.md, "Fair drops").
    attendee = node.visitors.client(client_address(request))
    shown_pass = presented_in(fields, node.passes)  # early access: verified here, offline
    card = shown_pass.card if shown_pass is not None else None
    early = timedelta(minutes=node.passes.early_minutes(card, drop_id))
    if card is not None and early and not (await node.drops.drop(drop_id)).started(utc_now()):
        # An early claim counts against the pass, whichever phones show it: a pass is text,
        # as easily shared as a screenshot (docs/security.md, "Fan passes").
        attendee = node.visitors.client(f"pass:{card.pass_id}")
    try:
        if shown_pass is not None and shown_pass.code is not None:
            return await _refused(request, drop_id, shown_pass.code, shown_pass.reason)
        claimed = await node.drops.claim(drop_id, attendee, qty, tender or "cash", early)
    except (DomainError, PaymentError) as exc:
        return await _refused(request, drop_id, error_code(exc))
    order_id = claimed.order_id  # its order is built when the pay page asks (services/drops.py)
    visitor = node.visitors.verify(request.cookies.get(VISITOR))
    arm = drop_arm(node, visitor)
    if arm is not None:  # its payment counts for the visitor's arm of the drop page flag
        node.flags.ordered(order_id, arm)
    for expired in claimed.expired:
        node.events.publish("order", {"id": expired, "state": "expired"})
    node.events.publish("drop", {"id": drop_id, "left": claimed.units_left})
    node.events.publish("order", {"id": order_id, "state": OrderState.AWAITING_PAYMENT.value})
    response = Response(status_code=303, headers={"Location": f"/o/{order_id}/pay"})  # hex id
    if visitor is None:
        remember(response, node.visitors.issue())
    return response


async def _form(request: Request) -> list[tuple[str, str]]:
    """The posted form's fields, parsed once (400 for bad UTF-8 or escapes: api/bounds.py)."""
    return form_fields(form_text(await request.body()))  # BadField past MAX_FIELDS


def _claim_fields(fields: list[tuple[str, str]]) -> tuple[int, str | None]:
    """The claim's quantity (1 when blank) and tender; BadField for a quantity not 1-MAX_QTY."""
    qty, tender = 1, None
    for key, value in fields:
        if key == "tender":
            tender = value
        elif key == "qty":
            qty = quantity("qty", value, least=1) or 1
    return qty, tender


async def _refused(
    request: Request, drop_id: int, code: str, pass_reason: str | None = None
) -> Response:
    """The drop page again, 409, with the refusal's message (and a refused pass's reason).

    Once the drop is open and sold out, every such page of one refusal, language and layout is
    the same but for the tenders offered: it is kept for MENU_TTL_S, as the menu is, so a crowd
    refused after a sell-out costs the box no rendering and no read.
    """
    node = node_of(request)
    drop = await node.drops.drop(drop_id)
    left = await node.drops.left(drop)
    locale = locale_of(request)
    layout = drop_layout(drop_arm(node, node.visitors.verify(request.cookies.get(VISITOR))))
    key = (drop_id, f"{code}:{locale.tag}:{layout}")
    same = left == 0 and pass_reason is None and drop.started(utc_now())
    if same and (kept := node.sold_out_pages.get(key)) and time.monotonic() - kept[0] < MENU_TTL_S:
        return HTMLResponse(kept[1], 409, headers=PAGE_HEADERS)
    context = await _context(request, drop, left, locale, layout)
    html = render(
        request, "drop.html", locale, error=locale.error(code), error_code=code,
        pass_reason=pass_reason, **context,
    )  # fmt: skip
    if same:
        if len(node.sold_out_pages) >= SOLD_OUT_PAGES:
            node.sold_out_pages.clear()
        node.sold_out_pages[key] = (time.monotonic(), html)
    return HTMLResponse(html, 409, headers=PAGE_HEADERS)


def routes() -> list[BaseRoute]:
    """The drop pages' routes."""
    return [
        Route("/d/{drop_id:int}", drop_page),
        Route("/d/{drop_id:int}/claim", claim, methods=["POST"]),
    ]
