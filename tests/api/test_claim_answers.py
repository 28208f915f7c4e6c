"""What a claim's answers cost: its order built by the pay page, a sold-out refusal page kept.

A claim answers 303 before its order exists (services/drops.py); the pay page it points to
builds it. Once a drop is open and sold out, its refusal page is rendered once per refusal,
language and layout and kept for a second (api/attendee/drop_pages.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from node_support import FORM, node_of, phone
from starlette.testclient import TestClient

from appliance.api.attendee import attendee, drop_pages
from appliance.api.visitors import CLIENTS_KEPT, Visitors

__all__ = ["phone"]  # fixture, used by name


def test_the_pay_page_builds_the_claims_order(phone: TestClient) -> None:
    node = node_of(phone)
    assert phone.portal is not None
    drop = phone.portal.call(
        node.drops.schedule, "coffee", 3, datetime.now(UTC), 1, timedelta(minutes=5)
    )
    won = phone.post(
        f"/d/{drop.id}/claim", content=b"qty=1&tender=cash", headers=FORM, follow_redirects=False
    )
    assert won.status_code == 303
    order_id = won.headers["location"].removeprefix("/o/").removesuffix("/pay")
    built = node.box.writer.run_sync(
        lambda conn: conn.execute("SELECT count(*) FROM orders WHERE id = ?", (order_id,))
    ).fetchone()
    assert built == (0,)  # the claim stored its row only
    pay = phone.get(won.headers["location"])
    assert pay.status_code == 200
    order = phone.portal.call(node.checkout.get_order, order_id)
    assert order.reference in pay.text and order.state.value == "awaiting_payment"


def test_a_sold_out_drops_refusal_page_is_rendered_once_then_kept(
    phone: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = node_of(phone)
    assert phone.portal is not None
    drop = phone.portal.call(
        node.drops.schedule, "coffee", 1, datetime.now(UTC), 1, timedelta(minutes=5)
    )
    claim = f"/d/{drop.id}/claim"
    assert phone.post(claim, content=b"qty=1", headers=FORM, follow_redirects=False).is_redirect
    rendered: list[str] = []
    render = attendee.render  # the function drop_pages imported

    def counted(*args: Any, **context: Any) -> bytes:
        rendered.append(str(context.get("error_code")))
        return render(*args, **context)

    monkeypatch.setattr(drop_pages, "render", counted)
    refused = [phone.post(claim, content=b"qty=1", headers=FORM) for _ in range(3)]
    assert [answer.status_code for answer in refused] == [409, 409, 409]
    assert refused[0].content == refused[1].content == refused[2].content
    assert rendered == ["per_attendee"]


def test_an_addresss_claimant_is_the_same_kept_or_not_and_the_memory_is_bounded() -> None:
    visitors = Visitors(b"k" * 32)
    first = visitors.client("192.168.4.7")
    assert first == visitors.client("192.168.4.7") == Visitors(b"k" * 32).client("192.168.4.7")
    assert first != Visitors(b"j" * 32).client("192.168.4.7")
    for n in range(CLIENTS_KEPT + 10):
        visitors.client(f"10.0.{n // 250}.{n % 250}")
    assert len(visitors._clients) <= CLIENTS_KEPT
    assert visitors.client("192.168.4.7") == first
