"""The attendee pages: menu → cart → order → pay → receipt, and the stall's printed sign.

Plain HTML forms (the whole flow works with JavaScript off), Jinja2 with autoescaping (every
attendee input is escaped), a few KB per page; the pay page follows the order by SSE and falls
back to a refresh. Order ids are unguessable, so an order's URL is its capability.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from appliance.api.attendee import page_variants as variants
from appliance.api.attendee.form_fields import (
    NOTE_CHARS,
    BadField,
    bad_field,
    form_fields,
    quantity,
    without_hidden,
)
from appliance.api.attendee.pass_pages import PASS_FIELD, Presented, presented
from appliance.api.attendee.pass_sale_pages import issued_view
from appliance.api.attendee.upsell import OFFER_FIELD, arm_of, offer_of
from appliance.api.bounds import form_text
from appliance.api.limits import socket_address
from appliance.api.locale import PageLocale
from appliance.api.node import Node
from appliance.domain.catalog import Item
from appliance.domain.errors import DomainError, DropError, OutOfStock, TenderRefused
from appliance.domain.money import Money
from appliance.domain.orders import Order, OrderState
from appliance.ledger.errors import LedgerError
from appliance.ledger.receipt import parse_receipt, verify_receipt
from appliance.payments.errors import PaymentError
from appliance.payments.render import RenderedCode
from appliance.services import order_views
from appliance.services.flags import Arm, upsell_of
from appliance.store.errors import NotFound

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
VISITOR = "sbv"
MENU_TTL_S = 1.0  # the stock a menu shows may be this old; the claim or sale itself is exact
PNG_HEADERS = {"Cache-Control": "public, max-age=3600"}  # the stall's sign: the same for all
ORDER_PNG_HEADERS = {"Cache-Control": "private, max-age=3600"}  # an order's URL is its capability
PAGE_HEADERS = {"Cache-Control": "no-store", "Vary": "Accept-Language"}
DROP_REFUSALS = (  # DropError texts (domain/drops.py) and the page message codes they map to
    ("the drop opens at", "not_open"), ("sold out", "sold_out"), ("only ", "few_left"),
    ("claim 1-", "per_attendee"), ("at most ", "per_attendee"),
)  # fmt: skip


def node_of(request: Request) -> Node:
    """The running node behind this app."""
    node: Node = request.app.state.node
    return node


def locale_of(request: Request) -> PageLocale:
    """The attendee's language: their Accept-Language if a catalog covers it, else the stall's."""
    return node_of(request).languages.for_header(request.headers.get("accept-language"))


def render(request: Request, template: str, locale: PageLocale, **context: Any) -> bytes:
    """A page's HTML in `locale`."""
    html = TEMPLATES.get_template(template).render(
        stall=node_of(request).config.stall_name, lang=locale.tag, _=locale.gettext, **context
    )
    return html.encode()


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page in the attendee's language."""
    html = render(request, template, locale_of(request), **context)
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


def money(request: Request, amount: Money) -> str:
    """An amount as the attendee's locale writes it (CLDR, via Babel)."""
    return locale_of(request).money(amount)


def error_code(exc: Exception) -> str:
    """The code of the message a page shows for a refusal (never the exception's own text)."""
    text = str(exc)
    if isinstance(exc, TenderRefused):
        return "tender_refused"
    if isinstance(exc, OutOfStock):
        return "out_of_stock"
    for start, code in DROP_REFUSALS:
        if isinstance(exc, DropError) and text.startswith(start):
            return code
    return "refused"


def limited(request: Request, ordering: bool = False) -> Response | None:
    """A 429 page when this client posts too fast (or, `ordering`, holds too many unpaid orders)."""
    node = node_of(request)
    # The address alone: a cookie is the client's to rotate. The box is the edge of the venue
    # LAN, so the address is the phone's own (docs/security.md, "Fair drops").
    address = client_address(request)
    if node.limiter.allow(address) and not (ordering and node.unpaid.full(address)):
        return None
    locale = locale_of(request)
    html = render(request, "busy.html", locale, error=locale.error("busy"))
    return HTMLResponse(html, 429, {"Retry-After": str(node.limiter.retry_after())})


def client_address(request: Request) -> str:
    """Who the request came from, as the socket saw it (never X-Forwarded-For), as limits count it.

    An IPv4 address as itself, also when a dual-stack socket maps it into IPv6 (::ffff:a.b.c.d).
    An IPv6 address stays whole: on the venue LAN every phone is in the same /64, so the /64
    that counts one subscriber on the internet (pairing) would make every phone one claimant.
    """
    return socket_address(request.client.host if request.client else None)


async def menu(request: Request) -> Response:
    """The menu: items, prices, stock, a quantity field each (the page is reused for a second).

    The menu flag's arm may order it by the last hour's sales and name the picks (page_variants.py).
    """
    started = time.perf_counter()
    node = node_of(request)
    known = node.visitors.verify(request.cookies.get(VISITOR))
    visitor = known or node.visitors.issue()
    node.funnel.viewed_menu(visitor)
    node.count("menu")
    locale = locale_of(request)
    code = request.query_params.get("error") if request.scope["query_string"] else None
    error = locale.error(code)  # a known code's message, in the attendee's language; else none
    arm = variants.menu_arm(node, visitor)
    variant = variants.menu_variant(arm)
    key = variants.page_key(locale.tag, variant, variants.CATALOG)
    cached = node.menu_page.get(key)
    if error is None and cached is not None and time.monotonic() - cached[0] < MENU_TTL_S:
        response: Response = HTMLResponse(cached[1], headers=PAGE_HEADERS)
    else:
        items = await order_views.list_items(node.box)
        shown = [
            {"sku": i.sku, "name": i.name, "price_text": locale.money(i.price), "stock": i.stock}
            for i in items
            if node.pass_sales is None or node.pass_sales.sellable(i.sku)  # a pass it can issue
        ]
        picks: list[dict[str, Any]] = []
        if variant == variants.POPULAR:
            shown, picks = await variants.popular_menu(node, shown)
        html = render(
            request, "menu.html", locale, items=shown, error=error, error_code=code, picks=picks
        )
        response = HTMLResponse(html, headers=PAGE_HEADERS)
        if error is None:
            node.menu_page[key] = (time.monotonic(), html)
    if known is None:
        remember(response, visitor)
    if arm is not None:  # the arm's figures for the canary judge (services/flags.py)
        node.flags.viewed(arm, time.perf_counter() - started, visitor)
    return response


def remember(response: Response, visitor: str) -> None:
    """Set the visitor cookie (hex and a dot: no quoting needed, so no SimpleCookie on the hot path)."""
    response.headers.append(
        "set-cookie", f"{VISITOR}={visitor}; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax"
    )


def back_to_menu(code: str) -> RedirectResponse:
    """Back to the menu, which shows the message of error `code` (locale.ERRORS)."""
    return RedirectResponse("/?error=" + quote(code), 303)


async def _wanted(request: Request) -> tuple[dict[str, int], str, str | None]:
    """Quantities per sku, the note and the tender from a posted form; BadField for a bad number.

    The menu's form sends every item, blank or 0 when not wanted: those are skipped. Control and
    bidi characters are taken out of the note, which the vendor's console shows.
    """
    fields = form_fields(form_text(await request.body()))  # 400: bad UTF-8 (api/bounds.py)
    wanted: dict[str, int] = {}
    note, tender = "", None
    for key, value in fields:
        if key == "note":
            note = without_hidden(value)[:NOTE_CHARS]
        elif key == "tender":
            tender = value
        elif key != PASS_FIELD and (qty := quantity(key, value)):
            wanted[key] = qty
    return wanted, note, tender


async def cart(request: Request) -> Response:
    """Review the chosen items and pick a tender (only those the offline policy would accept)."""
    started = time.perf_counter()
    if (refused := limited(request)) is not None:
        return refused
    node = node_of(request)
    try:
        wanted, _, _ = await _wanted(request)
    except BadField as exc:
        return bad_field(exc)
    cookie = request.cookies.get(VISITOR)
    arm = arm_of(node, cookie)  # an arm only for a cookie the node signed: the visitor's id
    shown_pass = await presented(request, node.passes)
    shown = await _cart_page(request, wanted, shown_pass=shown_pass, arm=arm)
    if shown is None:
        return back_to_menu("empty")
    node.funnel.step("cart")
    node.count("cart")
    if arm is not None:  # the arm's figures for the canary judge (services/flags.py)
        node.flags.viewed(arm, time.perf_counter() - started, cookie or "")
    return shown


async def _cart_page(
    request: Request,
    wanted: dict[str, int],
    note: str = "",
    code: str | None = None,
    shown_pass: Presented | None = None,
    arm: Arm | None = None,
) -> Response | None:
    """The cart page for these quantities with the tenders offered for its total; None if empty.

    With a verified pass, its discounts as the order would get them now (the order recounts);
    with the visitor's `arm` of the upsell flag, the item it offers (api/attendee/upsell.py).
    """
    node = node_of(request)
    card = shown_pass.card if shown_pass is not None else None
    items: dict[str, Item] = {}  # the snapshot's catalogue: the upsell's item is read from it
    chosen, order, offered = await order_views.cart_quote(
        node.checkout, node.passes, card, wanted, items
    )
    if not chosen or order is None:
        return None
    total = order.total
    discounts = [{"sku": d.sku, "text": money(request, d.amount)} for d in order.discounts]
    if shown_pass is not None and shown_pass.code is not None and code is None:
        code = shown_pass.code
    offer = offer_of(node, arm, items, wanted, locale_of(request)) if arm is not None else None
    lines = [
        {
            "sku": item.sku,
            "name": item.name,
            "qty": qty,
            "total_text": money(request, item.price * qty),
        }
        for item, qty in chosen
    ]
    return page(
        request,
        "cart.html",
        status=200 if code is None else 409,
        lines=lines,
        total_text=money(request, total),
        tenders=offered,
        note=note,
        error=locale_of(request).error(code),
        error_code=code,
        discounts=discounts,
        pass_text=shown_pass.text if card is not None and shown_pass else None,
        pass_holder=card.holder if card is not None else None,
        pass_reason=shown_pass.reason if shown_pass is not None else None,
        offer=offer,
        offer_field=OFFER_FIELD,
    )


async def place_order(request: Request) -> Response:
    """Create the order with its lines and tender; go to its pay page.

    A tender the policy refuses (a stale cart page, a crafted form) shows the cart again with
    the reason and the tenders still offered; nothing but the refusal is stored.
    """
    if (refused := limited(request, ordering=True)) is not None:
        return refused
    node = node_of(request)
    try:
        wanted, note, tender = await _wanted(request)
    except BadField as exc:
        return bad_field(exc)
    accepted = wanted.pop(OFFER_FIELD, 0) == 1
    if not wanted or tender is None:
        return back_to_menu("empty")
    arm = arm_of(node, request.cookies.get(VISITOR))  # the offer is the arm's, not the form's
    upsell = upsell_of(arm) if accepted else None
    shown_pass = await presented(request, node.passes)
    if shown_pass is not None and shown_pass.card is None:  # refused: nothing is stored
        shown = await _cart_page(request, wanted, note, shown_pass.code, shown_pass, arm)
        return shown or back_to_menu("refused")
    card = shown_pass.card if shown_pass is not None else None
    discount = None if card is None else node.passes.discount(card)
    try:
        tendered = await node.checkout.place_order(
            wanted.items(), tender, note, discount=discount, upsell=upsell
        )
    except TenderRefused as exc:
        shown = await _cart_page(request, wanted, note, error_code(exc), shown_pass, arm)
        return shown or back_to_menu(error_code(exc))
    except (DomainError, NotFound, PaymentError) as exc:  # one transaction: nothing was stored
        return back_to_menu(error_code(exc))
    order = tendered.order
    node.unpaid.placed(client_address(request), order.id)  # until it is paid or cancelled
    if card is not None and node.pass_peers is not None and order.discounts:
        await node.pass_peers.share()  # peers hold the redemption before the phone hears of it
    visitor = node.visitors.verify(request.cookies.get(VISITOR))
    for taken in (
        arm,
        variants.menu_arm(node, visitor),
    ):  # the arms this order's payment counts for
        if taken is not None:
            node.flags.ordered(order.id, taken)
    node.funnel.ordered(visitor, order.id)
    node.count("order")
    node.events.publish("order", {"id": order.id, "state": tendered.order.state.value})
    if tendered.payload is not None:  # build the QR now, off the event loop, so the page is instant
        await asyncio.to_thread(node.rails.qr, tender, tendered.order.total, tendered.reference)
    return RedirectResponse(f"/o/{order.id}/pay", 303)


async def _order(request: Request) -> Order:
    return await node_of(request).checkout.get_order(request.path_params["order_id"])


async def pay(request: Request) -> Response:
    """The pay page: amount, reference, QR (or cash instructions), live status."""
    node = node_of(request)
    order = await _order(request)
    if order.state is not OrderState.AWAITING_PAYMENT:
        return RedirectResponse(f"/o/{order.id}", 303)
    payload = None
    if order.tender and order.tender != "cash":
        payload = node.rails.payload(order.tender, order.total, order.reference)
    claim = await order_views.claim_of_order(node.box, order.id)
    place = left = None
    if claim is not None:  # a drop claim: its place in line and what is left of the drop
        place = claim.place
        left = await node.drops.left(await node.drops.drop(claim.drop_id))
    return page(
        request, "pay.html", order=order, total_text=money(request, order.total), payload=payload,
        place=place, left=left,
    )  # fmt: skip


async def qr_png(request: Request) -> Response:
    """The order's payment QR as PNG (built once, then cached)."""
    node = node_of(request)
    order = await _order(request)
    if not order.tender or order.tender == "cash":
        raise NotFound("this order has no payment code")
    code = await asyncio.to_thread(node.rails.qr, order.tender, order.total, order.reference)
    return Response(code.png(), media_type="image/png", headers=ORDER_PNG_HEADERS)


async def order_events(request: Request) -> Response:
    """SSE for one order: its state now, then whenever it changes."""
    node = node_of(request)
    order = await _order(request)

    async def stream() -> AsyncIterator[str]:
        yield f"event: state\ndata: {json.dumps({'state': order.state.value})}\n\n"
        async for message in node.events.stream(order=order.id):  # this order's events only
            if message.startswith("event: order"):
                yield message.replace("event: order", "event: state", 1)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


async def receipt(request: Request) -> Response:
    """The order's outcome: lines, total and, once paid, the signed receipt and whether it verifies."""
    node = node_of(request)
    order = await _order(request)
    if order.state is OrderState.AWAITING_PAYMENT:
        return RedirectResponse(f"/o/{order.id}/pay", 303)
    stored, states, received = await order_views.receipt_view(node.box, order.id)
    verified = False
    if stored is not None:
        try:
            parsed = parse_receipt(stored.line)
            public = node.box.public_key(parsed.key_id)  # a receipt from before a rekey too
            if public is not None:
                verify_receipt(parsed, public)
                verified = True
        except LedgerError:
            verified = False
    lines = [
        {"name": ln.name, "qty": ln.qty, "total_text": money(request, ln.total)}
        for ln in order.lines
    ]
    cash = None
    if isinstance(received, int) and order.state is OrderState.PAID:  # the change due, big
        given = Money(received, order.currency)
        cash = {"received": money(request, given), "change": money(request, given - order.total)}
    return page(
        request, "receipt.html", order=order, lines=lines, total_text=money(request, order.total),
        discounts=[{"sku": d.sku, "text": money(request, d.amount)} for d in order.discounts],
        receipt=stored, verified=verified, fingerprint=fingerprint_groups(node.fingerprint),
        when=locale_of(request).datetime(order.created_at),
        evidence=states.get(order.id), cash=cash, issued=await issued_view(node, order),
    )  # fmt: skip


def fingerprint_groups(fingerprint: str) -> tuple[str, list[str]]:
    """'SHA256:ab12:cd34:…' as ('SHA256:', ['ab12', 'cd34', …]): the page breaks lines between groups."""
    prefix, _, groups = fingerprint.partition(":")
    return prefix + ":", groups.split(":")


async def receipt_png(request: Request) -> Response:
    """The receipt line as a QR the attendee can keep and verify offline."""
    node = node_of(request)
    order = await _order(request)
    stored = await order_views.stored_receipt(node.box, order.id)
    if stored is None:
        raise NotFound("this order has no receipt")
    code = await asyncio.to_thread(RenderedCode, stored.line)
    return Response(code.png(), media_type="image/png", headers=ORDER_PNG_HEADERS)


def _menu_url(request: Request) -> str:
    """The menu at the address the phone reached (the socket's), never the Host header it sent.

    A Host header is the client's to write: the printed sign and its QR (cached publicly for an
    hour) would point wherever a stranger's request named.
    """
    server = request.scope.get("server")
    if not server:
        return str(request.base_url).rstrip("/") + "/"  # no socket (a test transport)
    host, port = str(server[0]), int(server[1])
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}/" if port == 80 else f"http://{host}:{port}/"


async def sign(request: Request) -> Response:
    """A printable sign: the stall's name and a QR of the menu URL."""
    return page(request, "sign.html", url=_menu_url(request))


async def sign_png(request: Request) -> Response:
    """The menu URL as a QR."""
    code = await asyncio.to_thread(RenderedCode, _menu_url(request))
    return Response(code.png(), media_type="image/png", headers=PNG_HEADERS)


def routes() -> list[BaseRoute]:
    """The attendee pages' routes."""
    order = "/o/{order_id:str}"
    return [
        Route("/", menu),
        Route("/cart", cart, methods=["POST"]),
        Route("/order", place_order, methods=["POST"]),
        Route(order, receipt),
        Route(f"{order}/pay", pay),
        Route(f"{order}/qr.png", qr_png),
        Route(f"{order}/events", order_events),
        Route(f"{order}/receipt.png", receipt_png),
        Route("/sign", sign),
        Route("/sign.png", sign_png),
    ]
