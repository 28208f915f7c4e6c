"""A stranger on the venue Wi-Fi against the attendee plane: what a hostile run found.

Each test is one finding of the hostile-attendee review (docs/security.md): a request that
broke a promise before its fix. The app is the node's own attendee plane, in process, with a
real state dir; the client's address is set per request as the socket would give it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from appliance.api.app import Planes
from appliance.api.limits import RateLimiter
from appliance.api.node import Node
from appliance.config import load_config, parse_config, sample_config
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


def test_two_ipv6_addresses_of_one_lan_are_two_claimants(app: Starlette) -> None:
    # Every phone on the venue LAN has an address in its one /64: counting IPv6 by /64, as
    # pairing counts internet subscribers, would give the whole venue one allowance.
    drop = drop_of(app, quantity=10, per_attendee=1)
    for n in (1, 2):
        won = phone(app, f"2001:db8:1:2::{n}").post(
            f"/d/{drop}/claim", content=b"qty=1", headers=FORM
        )
        assert won.status_code == 303, won.text


def test_an_ipv4_mapped_address_is_the_ipv4_address(app: Starlette) -> None:
    # A dual-stack socket gives an IPv4 phone as ::ffff:a.b.c.d: the same claimant either way.
    drop = drop_of(app, quantity=10, per_attendee=1)
    first = phone(app, "192.168.4.7").post(f"/d/{drop}/claim", content=b"qty=1", headers=FORM)
    assert first.status_code == 303
    mapped = phone(app, "::ffff:192.168.4.7").post(
        f"/d/{drop}/claim", content=b"qty=1", headers=FORM
    )
    assert mapped.status_code == 409 and 'data-error="per_attendee"' in mapped.text


def orders_stored(app: Starlette) -> int:
    """How many orders and drop claims the store holds."""
    return int(
        node_of(app)
        .box.writer.run_sync(
            lambda conn: conn.execute(
                "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM drop_claims)"
            )
        )
        .fetchone()[0]
    )


BAD_QTY = ["0", "-1", "21", "99999", "1.5", "1e3", "\u0661", "abc", "+1"]


@pytest.mark.parametrize("qty", BAD_QTY)
def test_a_claim_with_a_bad_quantity_is_422_naming_qty_and_holds_nothing(
    app: Starlette, qty: str
) -> None:
    # A quantity the drop page's form never sends was read as 1: the claim held a unit the
    # client did not ask for. Now it is refused, naming the field, and nothing is stored.
    drop = drop_of(app, quantity=10, per_attendee=5)
    before = orders_stored(app)
    body = f"qty={quote(qty)}&tender=cash".encode()
    answer = phone(app, "192.168.4.30").post(f"/d/{drop}/claim", content=body, headers=FORM)
    assert answer.status_code == 422, answer.text
    assert "qty" in answer.text and answer.headers["content-type"].startswith("text/html")
    assert orders_stored(app) == before


@pytest.mark.parametrize("path", ["/cart", "/order"])
@pytest.mark.parametrize("qty", BAD_QTY[1:])
def test_an_item_with_a_bad_quantity_is_422_naming_it_and_orders_nothing(
    app: Starlette, path: str, qty: str
) -> None:
    # The menu sends 0-20 per item (blank or 0: not wanted). Another value was skipped, so a
    # crafted order went through without that item; now the whole form is refused, named.
    before = orders_stored(app)
    body = f"coffee=1&pastel={quote(qty)}&tender=cash".encode()
    answer = phone(app, "192.168.4.31").post(path, content=body, headers=FORM)
    assert answer.status_code == 422, answer.text
    assert "pastel" in answer.text
    assert orders_stored(app) == before


def test_the_menus_own_form_still_orders(app: Starlette) -> None:
    body = b"coffee=2&pastel=0&xss=&tender=cash&pass=&note=x"
    answer = phone(app, "192.168.4.32").post("/order", content=body, headers=FORM)
    assert answer.status_code == 303, answer.text


def test_control_characters_are_taken_out_of_a_note(app: Starlette) -> None:
    # The note reaches the vendor's console: an escape or a carriage return could redraw what
    # it shows, a bidi override reverse what follows. Newlines stay (a pass's holder line).
    note = "no onion\n#7 PAID\r\x1b[2J\u202ereversed\u2066x\u2069\t\x00 \U0001f9c5"
    body = b"coffee=1&tender=cash&note=" + quote(note).encode()
    answer = phone(app, "192.168.4.33").post("/order", content=body, headers=FORM)
    assert answer.status_code == 303, answer.text
    order_id = answer.headers["location"].split("/")[2]
    with TestClient(app) as client:
        assert client.portal is not None
        stored = client.portal.call(node_of(app).checkout.get_order, order_id).note
    assert stored == "no onion\n#7 PAID[2Jreversedx \U0001f9c5"


def test_an_orders_images_are_private_to_the_phone(app: Starlette) -> None:
    # The order's URL is its capability: its payment code and receipt QR must not be kept by a
    # shared cache (a venue's caching proxy) for whoever asks for that URL next.
    client = phone(app, "192.168.4.34")
    placed = client.post("/order", content=b"coffee=1&tender=cash", headers=FORM)
    order_id = placed.headers["location"].split("/")[2]
    node = node_of(app)
    with TestClient(app) as portal_client:
        assert portal_client.portal is not None
        portal_client.portal.call(node.checkout.confirm, order_id)
    receipt = client.get(f"/o/{order_id}/receipt.png")
    assert receipt.status_code == 200
    assert receipt.headers["cache-control"] == "private, max-age=3600"
    assert client.get("/sign.png").headers["cache-control"] == "public, max-age=3600"


@pytest.mark.parametrize("path", ["/sign", "/sign.png"])
def test_the_stalls_sign_ignores_a_host_header(app: Starlette, path: str) -> None:
    # The sign's menu URL came from the Host header, which the client writes: a stranger's
    # request got a sign (and a publicly cacheable QR) pointing at their own site.
    honest = phone(app, "192.168.4.35").get(path)
    forged = phone(app, "192.168.4.35").get(path, headers={"Host": "evil.example"})
    assert forged.status_code == 200 and forged.content == honest.content
    assert b"evil" not in forged.content


def test_a_claim_with_too_many_fields_is_422_and_holds_nothing(app: Starlette) -> None:
    # Past parse_qsl's field cap the form was read as empty: a claim of 1, in cash, held.
    drop = drop_of(app, quantity=10, per_attendee=5)
    before = orders_stored(app)
    body = b"&".join([b"x=1"] * 1500) + b"&qty=1"
    answer = phone(app, "192.168.4.36").post(f"/d/{drop}/claim", content=body, headers=FORM)
    assert answer.status_code == 422 and "form" in answer.text, answer.text
    assert orders_stored(app) == before


def test_a_menu_of_150_items_can_be_ordered_from(tmp_path: Path) -> None:
    # The menu's form sends every item: with a cap of 100 fields a big menu's every order was
    # "Choose at least one item." Now the cap is 1,000 fields (the 16 KiB body bounds it too).
    state = tmp_path / "big"
    init_state(state, "BRL", datetime.now(UTC))
    items = "".join(
        f'\n[[catalog]]\nsku = "item{n}"\nname = "Item {n}"\nprice = "1.00"\n' for n in range(150)
    )
    config = parse_config(sample_config("BRL") + items)
    big = Planes(config, state, port=0, operator_port=0, advertise=False).attendee
    with TestClient(big, client=("192.168.4.37", 5000), follow_redirects=False) as client:
        form = "&".join(f"item{n}=" for n in range(150)) + "&item7=2&tender=cash&note="
        answer = client.post("/order", content=form.encode(), headers=FORM)
        assert answer.status_code == 303 and answer.headers["location"].endswith("/pay")
        too_many = "&".join(["x="] * 1001)
        refused = client.post("/cart", content=too_many.encode(), headers=FORM)
        assert refused.status_code == 422 and "form" in refused.text


def test_one_address_holds_at_most_ten_unpaid_orders(app: Starlette) -> None:
    # Unpaid attendee orders never expire: at the POST rate limit one script put 7,200 fake
    # "awaiting payment" orders an hour on the vendor's waiting list. An address now holds at
    # most MAX_UNPAID of them; paying or cancelling one frees its place.
    node = node_of(app)
    node.limiter = RateLimiter(rate=1e6, burst=10**6)  # this test is about the order cap
    client = phone(app, "192.168.4.39")
    placed = [
        client.post("/order", content=b"coffee=1&tender=cash", headers=FORM) for _ in range(10)
    ]
    assert all(answer.status_code == 303 for answer in placed)
    before = orders_stored(app)
    refused = client.post("/order", content=b"coffee=1&tender=cash", headers=FORM)
    assert refused.status_code == 429 and 'data-error="busy"' in refused.text, refused.text
    assert orders_stored(app) == before
    other = phone(app, "192.168.4.40").post("/order", content=b"coffee=1&tender=cash", headers=FORM)
    assert other.status_code == 303  # another phone is not held up
    with TestClient(app) as portal_client:
        assert portal_client.portal is not None
        paid = placed[0].headers["location"].split("/")[2]
        portal_client.portal.call(node.checkout.confirm, paid)
    node.events.publish("order", {"id": paid, "state": "paid"})  # as the operator API does
    again = client.post("/order", content=b"coffee=1&tender=cash", headers=FORM)
    assert again.status_code == 303, again.text
