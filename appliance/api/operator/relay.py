"""The node's relay endpoints: a box without an uplink hands its signed batches to this one.

On the LAN and without operator auth, because the boxes of one market are not paired with each
other. So anyone on the Wi-Fi can call them, and what is checked here protects the neighbours
who rely on this box as much as the box: the size, the shape, that every line is the named
origin's, in order, and - against the key the cloud this box is enrolled with trusts for that
origin - signed, linked and matching its items (appliance/services/relay_keys.py). A stranger
can then store nothing but genuine receipts, and only under enrolled origins; each origin has
its share of the queue (appliance/store/relay.py) and each source address its request rate.
The node stores the bytes it got (durably, through the one writer, before it answers 202) and
hands back the cloud's answer unchanged for the origin to verify. The sync daemon forwards
queued batches after its own receipts (sync/relay.py); the protocol is docs/sync-protocol.md,
"Relay"; the threats are docs/security.md, "Neighbours".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.limits import socket_address
from appliance.api.node import Node
from appliance.api.schemas import Problem
from appliance.errors import StateError
from appliance.ledger.errors import LedgerError
from appliance.ledger.receipt import HASH_BYTES, Receipt, parse_receipt, unb64
from appliance.ledger.wire import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECEIPTS,
    VERSION,
    Batch,
    RelayAnswer,
    RelayInfo,
    RelayQueued,
)
from appliance.services import relay_queue
from appliance.services.cloud_account import load_account
from appliance.services.relay_keys import KeyUnavailable, LineRefused
from appliance.store.errors import RelayFull

RETRY_FULL_S = 30
RETRY_KEYS_S = 30  # this box could not ask its cloud for the origin's key
MAX_TREE_SIZE = 2**53  # a checkpoint's tree size: far past any log, exact in every JSON reader
_DEVICE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_batch = msgspec.json.Decoder(Batch)


class Refused(Exception):
    """A relayed batch this node will not store: `status` and a message naming the field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.field = status, field


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _json(value: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(value), status, headers, "application/json")


def cloud_origin(node: Node) -> str:
    """The log origin of the cloud this box is enrolled with ("" if none); never the token."""
    try:
        return load_account(node.state_dir).origin
    except StateError:
        return ""


async def info(request: Request) -> Response:
    """GET /relay/v1/info: who this node is, which cloud it is enrolled with, has it an uplink."""
    node = _node(request)
    return _json(
        RelayInfo(
            node.config.stall_name, node.box.device_id, cloud_origin(node), await node.has_uplink()
        )
    )


def _origin(request: Request) -> str:
    origin = str(request.path_params["origin"])
    if not _DEVICE.match(origin):
        raise Refused(404, f"origin: {origin!r} is not a device id", "origin")
    return origin


async def _read(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BATCH_BYTES:
        raise Refused(413, f"body: {length} bytes, at most {MAX_BATCH_BYTES}", "body")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BATCH_BYTES:
            raise Refused(413, f"body: more than {MAX_BATCH_BYTES} bytes", "body")
        chunks.append(chunk)
    return b"".join(chunks)


def check_batch(origin: str, batch: Batch) -> tuple[int, int, int]:
    """Return (from_seq, last_seq, known_size) of a batch fit to relay; Refused naming the field."""
    if batch.v != VERSION:
        raise Refused(422, f"v: protocol version {batch.v} is not supported", "v")
    if not batch.receipts:
        raise Refused(422, "receipts: empty", "receipts")
    if len(batch.receipts) > MAX_BATCH_RECEIPTS:
        raise Refused(413, f"receipts: at most {MAX_BATCH_RECEIPTS}", "receipts")
    if batch.from_seq < 0 or batch.known_size < 0:
        raise Refused(422, "from_seq and known_size: must not be negative", "from_seq")
    if batch.known_size > MAX_TREE_SIZE:  # past SQLite's integers it was a 500
        raise Refused(422, f"known_size: at most {MAX_TREE_SIZE}", "known_size")
    for i, wire in enumerate(batch.receipts):
        where = f"receipts[{i}]"
        if wire.seq != batch.from_seq + i:
            raise Refused(422, f"{where}.seq: {wire.seq}, expected {batch.from_seq + i}", where)
        try:
            receipt = parse_receipt(wire.line)
        except LedgerError as exc:
            raise Refused(422, f"{where}.line: {exc}", where) from None
        if receipt.device_id != origin or receipt.seq != wire.seq:
            raise Refused(422, f"{where}.line: not receipt {wire.seq} of {origin}", where)
    last = batch.from_seq + len(batch.receipts) - 1
    return batch.from_seq, last, batch.known_size


async def check_signed(node: Node, origin: str, batch: Batch) -> None:
    """Refused unless the cloud knows `origin` and every line is its own, signed and linked."""
    try:
        prev = unb64(batch.prev_hash, HASH_BYTES, "prev_hash")
    except LedgerError as exc:
        raise Refused(422, f"prev_hash: {exc}", "prev_hash") from None
    lines: list[tuple[Receipt, str]] = [(parse_receipt(w.line), w.items) for w in batch.receipts]
    try:
        known = await node.relay_keys.check(origin, prev, lines)
    except KeyUnavailable as exc:
        raise Refused(503, f"origin: cannot check its key now ({exc})", "origin") from None
    except LineRefused as exc:
        where = f"receipts[{exc.index}]"
        raise Refused(422, f"{where}.line: {exc}", where) from None
    if not known:
        raise Refused(403, f"origin: {origin} is not enrolled with this box's cloud", "origin")


async def hand(request: Request) -> Response:
    """POST /relay/v1/devices/{origin}/batches: store the origin's checked batch as received; 202."""
    node = _node(request)
    if not node.relay_limiter.allow(
        socket_address(request.client.host if request.client else None)
    ):
        retry = str(node.relay_limiter.retry_after())
        message = f"too many batches from this address (at most {node.relay_limiter.rate}/s)"
        return _json(Problem(message, "relay.rate_per_address"), 429, {"Retry-After": retry})
    origin = _origin(request)
    body = await _read(request)
    try:
        batch = _batch.decode(body)
    except UnicodeDecodeError as exc:  # raw bytes inside a JSON string: msgspec lets this out
        raise Refused(400, f"body: a string is not UTF-8 ({exc.reason})", "body") from None
    span = check_batch(origin, batch)
    await check_signed(node, origin, batch)
    now = datetime.now(UTC)
    try:
        queued = await relay_queue.enqueue(node.box, origin, span, body, now)
    except RelayFull as exc:
        raise Refused(507, f"relay full: {exc}", exc.limit) from None
    return _json(RelayQueued(origin, span[0], span[1], queued), 202)


async def acks(request: Request) -> Response:
    """GET /relay/v1/devices/{origin}/acks?after=SEQ[&known=SIZE]: the answers, newest first."""
    node = _node(request)
    origin = _origin(request)
    text = request.query_params.get("after", "-1")
    if not re.fullmatch(r"-1|[0-9]{1,18}", text):
        raise Refused(400, "after: a seq (or -1) is needed", "after")
    after = int(text)
    known_text = request.query_params.get("known")
    if known_text is not None and not re.fullmatch(r"[0-9]{1,16}", known_text):
        raise Refused(400, "known: a tree size (0 or more) is needed", "known")
    known = None if known_text is None else int(known_text)
    if known is not None and known > MAX_TREE_SIZE:
        raise Refused(400, f"known: at most {MAX_TREE_SIZE}", "known")
    rows = await relay_queue.answers(node.box, origin, after, known)
    return _json(
        [RelayAnswer(r.from_seq, r.last_seq, r.known_size, r.status, r.answer) for r in rows]
    )


async def refused(request: Request, exc: Exception) -> Response:
    """Map Refused to its JSON Problem (507 and 503 say when to come back)."""
    assert isinstance(exc, Refused)
    retry = {507: RETRY_FULL_S, 503: RETRY_KEYS_S}.get(exc.status)
    headers = {"Retry-After": str(retry)} if retry else None
    return _json(Problem(str(exc), exc.field), exc.status, headers)


def routes() -> list[BaseRoute]:
    """The relay's routes."""
    device = "/relay/v1/devices/{origin:str}"
    return [
        Route("/relay/v1/info", info),
        Route(f"{device}/batches", hand, methods=["POST"]),
        Route(f"{device}/acks", acks),
    ]
