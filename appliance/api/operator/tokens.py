"""Operator route revoking every console token, recorded in the ledger (services/revocation.py).

`stallbox pair --revoke` comes here over the on-box socket while the node runs, so the record
that a deleted pairing.json cannot take back is written by the database's one writer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator.operator import json_response, node_of, operator
from appliance.api.season_schemas import RevokedOut
from appliance.services.revocation import revoke_on_node


@operator
async def revoke_tokens(request: Request) -> Response:
    """Revoke every operator token (this one too); consoles must pair again."""
    node = node_of(request)
    epoch = await revoke_on_node(node.state_dir, node.box.writer, node.pairing)
    node.events.publish("revoked", {"epoch": epoch})
    return json_response(RevokedOut(epoch))


def routes() -> list[BaseRoute]:
    """The revocation route."""
    return [Route("/api/pair/revoke", revoke_tokens, methods=["POST"])]
