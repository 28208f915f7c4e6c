"""A stranger on the venue Wi-Fi against the attendee plane: what a hostile run found.

Each test is one finding of the hostile-attendee review (docs/security.md): a request that
broke a promise before its fix. The app is the node's own attendee plane, in process, with a
real state dir; the client's address is set per request as the socket would give it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from appliance.api.app import Planes
from appliance.api.node import Node
from appliance.config import load_config
from appliance.services.box import init_state

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Starlette]:
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    plane = Planes(
        load_config(state / "stallbox.toml"), state, port=0, operator_port=0, advertise=False
    ).attendee
    with TestClient(plane):  # the lifespan: the node opens once
        yield plane


def phone(app: Starlette, address: str) -> TestClient:
    """A phone at `address` (as the socket sees it), without the app's lifespan."""
    return TestClient(app, client=(address, 50000), follow_redirects=False)


def node_of(app: Starlette) -> Node:
    node: Node = app.state.node
    return node


def drop_of(app: Starlette, quantity: int, per_attendee: int) -> int:
    """A drop of coffee open now; its id."""
    node = node_of(app)
    with TestClient(app) as client:
        assert client.portal is not None
        drop = client.portal.call(
            node.drops.schedule, "coffee", quantity, datetime.now(UTC), per_attendee,
            timedelta(minutes=5),
        )  # fmt: skip
    return int(drop.id)


@pytest.mark.parametrize("path", ["/d/9223372036854775808", "/d/99999999999999999999"])
def test_a_drop_id_past_sqlites_integers_is_404_not_500(app: Starlette, path: str) -> None:
    # Starlette's int convertor takes any digits; SQLite's integers end at 2^63 - 1, and the
    # OverflowError was a 500 (and the connection closed) for a page and a claim alike.
    client = phone(app, "192.168.4.20")
    for answer in (client.get(path), client.post(f"{path}/claim", content=b"qty=1", headers=FORM)):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"].startswith("no drop")


def test_one_ipv6_subscriber_gets_one_allowance_and_one_rate_bucket(app: Starlette) -> None:
    # On a node listening on IPv6 a phone picks any address in its /64 itself (SLAAC privacy
    # addresses, no DHCP): a fresh address per claim took a whole drop, each a new allowance.
    # One /64 is one subscriber, as pairing already counts it (services/pairing.py).
    drop = drop_of(app, quantity=10, per_attendee=1)
    first = phone(app, "2001:db8:1:2::1").post(f"/d/{drop}/claim", content=b"qty=1", headers=FORM)
    assert first.status_code == 303, first.text
    for n in range(2, 6):
        again = phone(app, f"2001:db8:1:2::{n:x}").post(
            f"/d/{drop}/claim", content=b"qty=1", headers=FORM
        )
        assert again.status_code == 409 and 'data-error="per_attendee"' in again.text
    other = phone(app, "2001:db8:1:3::1").post(f"/d/{drop}/claim", content=b"qty=1", headers=FORM)
    assert other.status_code == 303  # another /64: another subscriber
    with TestClient(app) as client:
        assert client.portal is not None
        left = client.portal.call(node_of(app).drops.left, node_of(app).drops._drops[drop])
    assert left == 8
    statuses = [  # the POST rate bucket too: one burst per /64, not one per address
        phone(app, f"2001:db8:9::{n:x}").post("/cart", content=b"", headers=FORM).status_code
        for n in range(1, 31)
    ]
    assert statuses.count(429) >= 30 - node_of(app).limiter.burst - 2, statuses


def test_an_ipv4_mapped_address_is_the_ipv4_address(app: Starlette) -> None:
    # A dual-stack socket gives an IPv4 phone as ::ffff:a.b.c.d: the same claimant either way.
    drop = drop_of(app, quantity=10, per_attendee=1)
    first = phone(app, "192.168.4.7").post(f"/d/{drop}/claim", content=b"qty=1", headers=FORM)
    assert first.status_code == 303
    mapped = phone(app, "::ffff:192.168.4.7").post(
        f"/d/{drop}/claim", content=b"qty=1", headers=FORM
    )
    assert mapped.status_code == 409 and 'data-error="per_attendee"' in mapped.text
