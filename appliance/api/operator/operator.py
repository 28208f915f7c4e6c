"""The operator JSON API: pairing, catalogue, orders, confirmations, stats, live events.

Every endpoint but /api/pair/*, /api/identity and /api/openapi.json needs `Authorization: Bearer <token>`.
Pairing runs a PAKE (appliance/services/pairing.py); /api/pair/local answers only over the node's
Unix socket, to a peer whose credentials are allowed (appliance/unix_listener.py).
Handlers parse with msgspec, call one use case, and encode the result; errors are mapped to
4xx JSON bodies in app.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import os
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from cryptography.hazmat.primitives import serialization
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from appliance.api.bounds import MAX_DROP_LEAD_DAYS
from appliance.api.node import Node
from appliance.api.operator.convert import confirm_out, decision_out, item_out, order_out
from appliance.api.operator.tender_qr import asked_sides, qr_out
from appliance.api.schemas import (
    ConfirmRequest,
    DropOut,
    IdentityOut,
    LineRequest,
    NewDrop,
    NewOrder,
    PairFinish,
    PairFinished,
    PairLocal,
    PairResponse,
    PairStart,
    PairStarted,
    RemoveLine,
    StatsOut,
    SyncOut,
    SyncPause,
    TenderOut,
    TenderRequest,
)
from appliance.domain.drops import Drop
from appliance.domain.errors import DropError, TenderRefused
from appliance.domain.orders import OrderState
from appliance.ledger.errors import ReceiptFormatError
from appliance.ledger.figures import per_live_minute
from appliance.ledger.identity import IDENTITY_PREFIX
from appliance.ledger.receipt import b64, unb64
from appliance.services import box_figures, order_views
from appliance.services.pairing import TOKEN_TTL_S, PairingError
from appliance.unix_listener import allowed, peer_of

S = TypeVar("S", bound=msgspec.Struct)
Handler = Callable[[Request], Awaitable[Response]]


def json_response(value: Any, status: int = 200) -> Response:
    """Encode with msgspec (fast, and exactly the declared types)."""
    return Response(msgspec.json.encode(value), status, media_type="application/json")


async def body(request: Request, kind: type[S]) -> S:
    """Decode the request body strictly as `kind`; an empty body means all defaults.

    A number with no fraction (`2.0`) is an integer, as JSON Schema says: it is read as one.
    """
    raw = await request.body()
    try:
        value = msgspec.json.decode(raw or b"{}")
    except UnicodeDecodeError as exc:  # raw bytes inside a JSON string: msgspec lets this out
        raise msgspec.DecodeError(f"a string is not UTF-8 ({exc.reason})") from None
    return msgspec.convert(_whole(value), type=kind)


def _whole(value: Any) -> Any:
    """`value` with every float that is a whole number turned into an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    return value


def node_of(request: Request) -> Node:
    """The running node behind this app."""
    node: Node = request.app.state.node
    return node


def operator(handler: Handler) -> Handler:
    """Refuse the request unless it carries a valid operator token."""

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise PairingError("missing operator token (Authorization: Bearer ...)")
        node_of(request).pairing.check(token.strip())
        return await handler(request)

    return guarded


def needs_token(endpoint: Callable[..., Any]) -> bool:
    """Whether a route's endpoint is wrapped by `operator` (the only wrapper on these routes)."""
    return getattr(endpoint, "__wrapped__", None) is not None


def _bytes(text: str, size: int, field: str) -> bytes:
    try:
        return unb64(text, size, field)
    except ReceiptFormatError:
        raise msgspec.ValidationError(
            f"not canonical base64url of {size} bytes - at `$.{field}`"
        ) from None


async def pair_start(request: Request) -> Response:
    """Start a PAKE run over the pairing code: the node's SPAKE2 message (limits apply)."""
    node = node_of(request)
    asked = await body(request, PairStart)
    source = request.client.host if request.client else "unknown"
    started = await node.pairing.start(source, asked.name)
    return json_response(PairStarted(started.session, started.node_id, b64(started.message)))


async def pair_finish(request: Request) -> Response:
    """Finish a run: check the console's confirmation; answer with the token, sealed."""
    node = node_of(request)
    asked = await body(request, PairFinish)
    message, confirm = _bytes(asked.pake, 33, "pake"), _bytes(asked.confirm, 32, "confirm")
    redeemed = await node.pairing.finish(asked.session, message, confirm)
    answer = PairResponse(redeemed.token, node.box.device_id, node.fingerprint, TOKEN_TTL_S)
    confirm, sealed = node.pairing.seal(redeemed, msgspec.json.encode(answer))
    return json_response(PairFinished(b64(confirm), b64(sealed)))


async def pair_local(request: Request) -> Response:
    """A token for the on-box console over the Unix socket: its peer credentials are the proof."""
    node = node_of(request)
    peer = peer_of(request.scope)
    if peer is None:  # not over the Unix socket: this route does not exist on the network
        raise HTTPException(404, "Not Found")
    if not allowed(peer, uid=os.getuid(), group=node.operator_gid):
        raise HTTPException(403, f"uid {peer.uid} may not pair over this socket")
    asked = await body(request, PairLocal)
    token = node.pairing.issue_local(asked.name)
    return json_response(PairResponse(token, node.box.device_id, node.fingerprint, TOKEN_TTL_S))


@operator
async def catalog(request: Request) -> Response:
    """The active catalogue with stock."""
    items = await order_views.list_items(node_of(request).box)
    return json_response([item_out(item) for item in items])


@operator
async def tenders(request: Request) -> Response:
    """Tenders in config order: all configured, or with ?order=ID those the policy accepts for it."""
    checkout = node_of(request).checkout
    order_id = request.query_params.get("order")
    if order_id is None:
        return json_response(checkout.tenders())
    return json_response(await checkout.offered_for(order_id))


async def identity(request: Request) -> Response:
    """Prove who this node is: sign the caller's challenge with the device key (no token needed).

    A console that pinned the key's fingerprint checks this on every connection, so a box that
    was swapped or re-keyed behind the same address is a loud warning, never a silent reconnect.
    """
    node = node_of(request)
    challenge = request.query_params.get("challenge", "")
    raw = b""
    if re.fullmatch(r"[A-Za-z0-9_-]{22,86}", challenge):  # base64url, no padding
        try:
            raw = base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))
        except (ValueError, binascii.Error):
            raw = b""
    if not 16 <= len(raw) <= 64:
        raise msgspec.ValidationError("must be 16-64 bytes in base64url - at `$.challenge`")
    key = node.box.key
    public = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return json_response(
        IdentityOut(
            node_id=node.box.device_id,
            name=node.config.stall_name,
            fingerprint=node.fingerprint,
            public_key=b64(public),
            signature=b64(key.sign(IDENTITY_PREFIX + raw)),
        )
    )


@operator
async def list_orders(request: Request) -> Response:
    """Orders in one state (?state=awaiting_payment by default), oldest first."""
    try:
        state = OrderState(request.query_params.get("state", "awaiting_payment"))
    except ValueError:
        raise msgspec.ValidationError("not an order state - at `$.state`") from None

    await node_of(request).drops.build_orders()  # drop claims' orders the pay page had not built
    orders, evidence = await order_views.orders_in(node_of(request).box, state)
    return json_response([order_out(order, evidence.get(order.id)) for order in orders])


@operator
async def create_order(request: Request) -> Response:
    """Open an order, optionally with lines."""
    node = node_of(request)
    asked = await body(request, NewOrder)
    order = await node.checkout.create_order(asked.note, [(ln.sku, ln.qty) for ln in asked.lines])
    node.events.publish("order", {"id": order.id, "state": order.state.value})
    return json_response(order_out(order), 201)


@operator
async def get_order(request: Request) -> Response:
    """One order."""
    node = node_of(request)
    order = await node.checkout.get_order(request.path_params["order_id"])
    evidence = await order_views.payment_states(node.box, order.id)
    return json_response(order_out(order, evidence.get(order.id)))


@operator
async def add_line(request: Request) -> Response:
    """Add an item to an open order."""
    asked = await body(request, LineRequest)
    order = await node_of(request).checkout.add_line(
        request.path_params["order_id"], asked.sku, asked.qty
    )
    return json_response(order_out(order))


@operator
async def remove_line(request: Request) -> Response:
    """Remove some or all of an item from an open order."""
    asked = await body(request, RemoveLine)
    order = await node_of(request).checkout.remove_line(
        request.path_params["order_id"], asked.sku, asked.qty
    )
    return json_response(order_out(order))


def count_decision(node: Node) -> None:
    """Count one offline-policy decision (all are taken on the box today: edge decisions)."""
    node.metrics.decisions.inc()
    node.metrics.edge_decisions.inc()


@operator
async def tender(request: Request) -> Response:
    """Choose cash or a rail the offline policy accepts (409 naming `tender` when it refuses)."""
    node = node_of(request)
    asked = await body(request, TenderRequest)
    sides = asked_sides(request.query_params.get("qr"))  # refused before anything is recorded
    try:
        done = await node.checkout.choose_tender(
            request.path_params["order_id"],
            asked.tender,
            operator=asked.operator,
            override_reason=asked.override_reason,
        )
    except TenderRefused:
        count_decision(node)
        raise
    count_decision(node)
    node.events.publish("order", {"id": done.order.id, "state": done.order.state.value})
    qr = None
    if sides is not None and done.payload is not None:  # built off the loop (DESIGN §6)
        qr = await asyncio.to_thread(qr_out, done.payload, sides)
    return json_response(TenderOut(order_out(done.order), done.reference, done.payload, qr))


@operator
async def confirm(request: Request) -> Response:
    """Confirm payment; the answer carries the policy decision and, if accepted, the receipt."""
    node = node_of(request)
    asked = await body(request, ConfirmRequest)
    done = await node.checkout.confirm(
        request.path_params["order_id"],
        operator=asked.operator,
        override_reason=asked.override_reason,
        cash_received=asked.cash_received,
    )
    rail = done.decision.rail
    if not done.at_tender:  # an order tendered before decisions moved to the tender
        count_decision(node)
    node.metrics.confirmations.labels(rail, done.decision.verdict.value).inc()
    node.events.publish("order", {"id": done.order.id, "state": done.order.state.value})
    answer = json_response(confirm_out(done))
    if done.receipt is not None:
        node.record_paid(done.order.id, done.receipt.total)
        # the recount is bookkeeping: after the answer is sent, off the console's wait
        answer.background = BackgroundTask(node.refresh_outbox)
    return answer


@operator
async def cancel(request: Request) -> Response:
    """Cancel an unpaid order."""
    node = node_of(request)
    order = await node.checkout.cancel(request.path_params["order_id"])
    node.events.publish("order", {"id": order.id, "state": order.state.value})
    return json_response(order_out(order))


@operator
async def ready(request: Request) -> Response:
    """Mark a paid order ready for pick-up; consoles and the attendee's page see it."""
    node = node_of(request)
    order = await node.checkout.ready(request.path_params["order_id"])
    node.events.publish("order", {"id": order.id, "state": order.state.value, "ready": True})
    return json_response(order_out(order))


@operator
async def void(request: Request) -> Response:
    """Void a paid order: a void receipt, the stock back."""
    node = node_of(request)
    order_id = request.path_params["order_id"]
    receipt = await node.checkout.void(order_id)
    await node.refresh_outbox()
    node.events.publish("order", {"id": order_id, "state": "voided"})
    return json_response({"seq": receipt.seq, "line": receipt.line})


@operator
async def decisions(request: Request) -> Response:
    """The latest policy decisions, newest first (?limit=50)."""
    text = request.query_params.get("limit", "50")
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise msgspec.ValidationError("must be a whole number - at `$.limit`")
    limit = max(1, min(int(text), 500))
    rows = await order_views.recent_decisions(node_of(request).box, limit)
    return json_response([decision_out(d) for d in rows])


@operator
async def stats(request: Request) -> Response:
    """Sales, revenue per live minute, outbox and the edge decision rate."""
    node = node_of(request)
    figures = await box_figures.figures(node.box)
    rate = figures.edge_decisions / figures.decisions if figures.decisions else None
    minutes = await node.live_minutes()
    per_minute = per_live_minute(figures.revenue, minutes)  # the cloud's dashboard's rule too
    disk = node.storage()
    return json_response(
        StatsOut(
            sales=figures.sales,
            revenue=figures.revenue,
            currency=node.config.currency,
            live_minutes=round(minutes, 2),
            revenue_per_live_minute=per_minute,
            outbox_depth=figures.outbox_depth,
            oldest_unsynced_s=figures.oldest_unsynced_s,
            decisions=figures.decisions,
            edge_decisions=figures.edge_decisions,
            edge_decision_rate=rate,
            storage=disk.state,
            free_bytes=disk.free_bytes,
            voided=figures.voided,
            voided_revenue=figures.voided_revenue,
            locale=node.config.locale,
            stall_url=f"{attendee_url(request)}/",
            timezone=node.config.timezone,
        )
    )


@operator
async def sync_state(request: Request) -> Response:
    """The sync daemon's view: outbox, the cloud's head, the last verified checkpoint, any stop."""
    node = node_of(request)
    state, (depth, age), pause = await box_figures.sync_view(node.box, datetime.now(UTC))
    return json_response(
        SyncOut(
            outbox_depth=depth,
            oldest_unsynced_s=age,
            acked_seq=state.acked_seq,
            cloud_seq=state.cloud_seq,
            tree_size=state.tree_size,
            checkpoint=state.checkpoint,
            last_contact=state.last_contact,
            last_error=state.last_error,
            stopped=state.stopped,
            via=state.via,
            incident=state.incident,
            paused=None if pause is None else SyncPause(*pause),
        )
    )


PrepareDrop = Callable[[Request, Drop], Awaitable[None]]  # renders a drop's page before it opens


@operator
async def schedule_drop(request: Request) -> Response:
    """Schedule a drop; its page and payment codes are pre-rendered before it opens."""
    node = node_of(request)
    asked = await body(request, NewDrop)
    starts = drop_start(asked.starts_at, datetime.now(UTC))
    if asked.per_attendee > asked.quantity:
        raise DropError(f"must be at most quantity ({asked.quantity})", "per_attendee")
    hold_s = node.config.drop_hold_s if asked.hold_s is None else asked.hold_s
    if hold_s > node.config.drop_max_hold_s:
        raise DropError(f"at most {node.config.drop_max_hold_s} s (drops.max_hold_s)", "hold_s")
    drop = await node.drops.schedule(
        asked.sku, asked.quantity, starts, asked.per_attendee, timedelta(seconds=hold_s)
    )
    prepare: PrepareDrop = request.app.state.prepare_drop  # the attendee plane's, set by api/app.py
    await prepare(request, drop)
    return json_response(await drop_out(request, drop), 201)


MAX_DROP_LEAD = timedelta(days=MAX_DROP_LEAD_DAYS)
MAX_DROP_PAST = timedelta(minutes=1)


def drop_start(text: str, now: datetime) -> datetime:
    """A drop's start from ISO 8601: 422 if it is no time, 409 unless from a minute ago to
    MAX_DROP_LEAD ahead (a rule of now, which the schema's fixed range cannot state)."""
    try:
        starts = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):  # 9999-12-31T23:59-05:00 overflows to UTC
        raise msgspec.ValidationError("not a valid time - at `$.starts_at`") from None
    if not now - MAX_DROP_PAST <= starts <= now + MAX_DROP_LEAD:
        raise DropError(
            f"must be from a minute ago to {MAX_DROP_LEAD.days} days ahead", "starts_at"
        )
    return starts


@operator
async def list_drops(request: Request) -> Response:
    """Every drop with its units left."""
    node = node_of(request)
    return json_response([await drop_out(request, d) for d in await node.drops.list()])


async def drop_out(request: Request, drop: Drop) -> DropOut:
    """A drop as the API shows it."""
    left = await node_of(request).drops.left(drop)
    return DropOut(
        drop.id, drop.sku, drop.name, drop.price.minor, drop.quantity, left, drop.starts_at.isoformat(),
        drop.per_attendee, int(drop.hold.total_seconds()), f"{attendee_url(request)}/d/{drop.id}",
    )  # fmt: skip


def attendee_url(request: Request) -> str:
    """The attendee plane's URL at the address the operator reached: where phones go."""
    host = request.url.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{node_of(request).port}"


@operator
async def events(request: Request) -> Response:
    """Server-sent events: order changes as they happen."""
    return StreamingResponse(
        node_of(request).events.stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@operator
async def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    node = node_of(request)
    figures = await box_figures.figures(node.box)
    node.metrics.outbox_depth.set(figures.outbox_depth)
    node.metrics.oldest_unsynced.set(figures.oldest_unsynced_s or 0.0)
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def routes() -> list[BaseRoute]:
    """The operator API's routes."""
    from appliance.api.operator import season  # day-2 operations (issue 22); it imports this module
    from appliance.api.operator import flags_api  # edge flags (issue 20), likewise  # isort: skip
    from appliance.api.operator import pass_reader  # a pass read at the console (issue 19)  # isort: skip
    from appliance.api import pass_peers_api  # redemptions between boxes  # isort: skip
    from appliance.api.operator import order_passes  # passes handed over at the console  # isort: skip

    order = "/api/orders/{order_id:str}"
    return [
        Route("/api/pair/start", pair_start, methods=["POST"]),
        Route("/api/pair/finish", pair_finish, methods=["POST"]),
        Route("/api/pair/local", pair_local, methods=["POST"]),
        Route("/api/catalog", catalog),
        Route("/api/tenders", tenders),
        Route("/api/identity", identity),
        Route("/api/orders", list_orders),
        Route("/api/orders", create_order, methods=["POST"]),
        Route(order, get_order),
        Route(f"{order}/lines", add_line, methods=["POST"]),
        Route(f"{order}/lines/remove", remove_line, methods=["POST"]),
        Route(f"{order}/tender", tender, methods=["POST"]),
        Route(f"{order}/confirm", confirm, methods=["POST"]),
        Route(f"{order}/cancel", cancel, methods=["POST"]),
        Route(f"{order}/ready", ready, methods=["POST"]),
        Route(f"{order}/void", void, methods=["POST"]),
        Route("/api/decisions", decisions),
        Route("/api/stats", stats),
        Route("/api/sync", sync_state),
        Route("/api/drops", list_drops),
        Route("/api/drops", schedule_drop, methods=["POST"]),
        Route("/api/events", events),
        Route("/metrics", metrics),
        *_bank_routes(),
        *season.routes(),
        *flags_api.routes(),
        *pass_reader.routes(),
        *pass_peers_api.routes(),
        *order_passes.routes(),
    ]


def _bank_routes() -> list[BaseRoute]:
    from appliance.api.operator import bank  # imports this module: registered late

    return bank.routes()
