"""In-process nodes for the API tests, built by the same Planes factory as `stallbox node`.

Two shapes, each on a new BRL stall in tmp_path (real SQLite files, the apps' lifespans run, no
sockets): `phone`, a TestClient on the attendee plane alone; and `running_node`, both planes
behind one httpx client as a box serves them (operator paths to the operator plane, the rest
to the phones' plane) with a paired operator's token. Test modules import what they use by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from appliance.api.app import Planes
from appliance.api.limits import RateLimiter
from appliance.api.node import Node
from appliance.config import load_config, parse_config, sample_config
from appliance.services.box import init_state

OPERATOR_PATHS = ("/api/", "/relay/", "/metrics")  # served by the operator plane on a box
FORM = {"Content-Type": "application/x-www-form-urlencoded"}  # how a phone posts a form


class RunningNode(NamedTuple):
    """A node running in process: one client for both planes, the operator's header, the node."""

    client: httpx.AsyncClient
    auth: dict[str, str]
    node: Node


def attendee_app(state: Path) -> Starlette:
    """The attendee plane of a new BRL stall on `state`, as `stallbox init` configures it."""
    init_state(state, "BRL", datetime.now(UTC))
    config = load_config(state / "stallbox.toml")
    return Planes(config, state, port=0, operator_port=0, advertise=False).attendee


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[TestClient]:
    """A phone on a new stall's attendee plane, its lifespan running."""
    with TestClient(attendee_app(tmp_path / "state")) as client:
        yield client


def node_of(phone: TestClient) -> Node:
    """The node behind a phone's TestClient."""
    app = phone.app
    assert isinstance(app, Starlette)
    node: Node = app.state.node
    return node


@asynccontextmanager
async def running_node(
    state: Path,
    extra: str = "",
    *,
    born: datetime | None = None,
    limiter: RateLimiter | None = None,
) -> AsyncIterator[RunningNode]:
    """Both planes of a node on `state` (a new BRL stall, born at `born`, unless it exists) with
    the sample config plus `extra`; `limiter` replaces the phones' rate limit."""
    if not state.exists():
        init_state(state, "BRL", born or datetime.now(UTC))
    config = parse_config(sample_config("BRL") + extra)
    planes = Planes(config, state, port=0, operator_port=0, advertise=False)
    attendee, operator = planes.attendee, planes.operator

    async def both(scope: Scope, receive: Receive, send: Send) -> None:
        """One client for both planes: operator paths to the operator app, the rest to phones'."""
        path = scope.get("path", "")
        await (operator if path.startswith(OPERATOR_PATHS) else attendee)(scope, receive, send)

    async with (
        attendee.router.lifespan_context(attendee),
        operator.router.lifespan_context(operator),
    ):
        node = planes.node
        assert node is not None
        if limiter is not None:
            node.limiter = limiter
        token = node.pairing.issue("t", 0, datetime.now(UTC).timestamp())
        transport = httpx.ASGITransport(app=both)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            yield RunningNode(client, {"Authorization": f"Bearer {token}"}, node)
