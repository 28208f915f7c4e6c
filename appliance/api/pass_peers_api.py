"""HTTP of redemption sharing: the peer route on the attendee plane, the vendor's view.

`GET /peer/passes?after=SEQ&nonce=N` answers this box's own redemptions past SEQ, signed, with
the nonce echoed; `POST /peer/passes` takes a peer's signed push and answers a signed ack once
the redemptions are committed (403 for a message that does not verify, 503 if it cannot be
stored: nothing counted). They are on the attendee plane because that is what mDNS announces
and peers hold no operator token; the signatures are what a box believes
(appliance/passes/peer_message.py). `GET /api/passes/peers` (operator) shows the peers in
sight and every over-redemption found. Registered by one line each in api/app.py and
api/operator/operator.py.
"""

from __future__ import annotations

import re
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator.operator import json_response, node_of, operator
from appliance.api.pass_peers_schemas import OverOut, PassPeersOut, PeerOut
from appliance.passes.peer_message import PeerRefused
from appliance.services.pass_peers import PATH, PassPeers
from appliance.store.errors import StoreError

_AFTER = re.compile(r"0|[1-9][0-9]{0,17}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _problem(status: int, error: str) -> Response:
    return json_response({"error": error}, status)


def _peers(request: Request) -> PassPeers | None:
    peers: PassPeers | None = node_of(request).pass_peers
    return peers


async def pull(request: Request) -> Response:
    """A peer asks for this box's redemptions past `after` (signed, with its nonce)."""
    peers = _peers(request)
    if peers is None:
        return _problem(404, "this box has no [passes]")
    after, nonce = request.query_params.get("after", ""), request.query_params.get("nonce", "")
    if not _AFTER.fullmatch(after):
        return _problem(400, "after: a whole number from 0")
    if not _NONCE.fullmatch(nonce):
        return _problem(400, "nonce: 8-64 base64url characters")
    try:
        answer = await peers.answer_pull(int(after), nonce)
    except PeerRefused as exc:
        return _problem(404, str(exc))
    except StoreError as exc:
        return _problem(503, str(exc))
    return Response(answer, media_type="application/json")


async def push(request: Request) -> Response:
    """A peer's signed redemptions: stored (committed) before the signed ack answers."""
    peers = _peers(request)
    if peers is None:
        return _problem(404, "this box has no [passes]")
    try:
        answer = await peers.receive(await request.body())
    except PeerRefused as exc:
        return _problem(403, str(exc))
    except StoreError as exc:
        return _problem(503, str(exc))
    return Response(answer, media_type="application/json")


@operator
async def peers_view(request: Request) -> Response:
    """The peer boxes in sight and every over-redemption found."""
    peers = _peers(request)
    if peers is None:
        return json_response(PassPeersOut(False, 1, True, 0.0, [], []))
    known, overs = await peers.status()
    now, sight = time.monotonic(), peers.settings.sight_s
    return json_response(
        PassPeersOut(
            peers.sharing,
            peers.settings.boxes,
            peers.in_sight(),
            sight,
            [
                PeerOut(
                    p.url,
                    p.box,
                    bool(p.heard) and now - p.heard <= sight,
                    round(now - p.heard, 3) if p.heard else None,
                    p.sent,
                    p.problem,
                )
                for p in known
            ],
            [
                OverOut(o.pass_id, o.period, o.used, o.allowance, o.found_at, o.reported)
                for o in overs
            ],
        )
    )


def peer_routes() -> list[BaseRoute]:
    """The attendee plane's peer routes."""
    return [Route(PATH, pull), Route(PATH, push, methods=["POST"])]


def routes() -> list[BaseRoute]:
    """The operator route."""
    return [Route("/api/passes/peers", peers_view)]
