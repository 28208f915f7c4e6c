"""The console's pure parts and its client against a mock transport: no node process needed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from appliance.api.schemas import DropOut, OrderOut, SyncOut
from appliance.ledger.figures import quantile
from tui.app import ConsoleSettings, build_app
from tui.client import NodeClient, parse_metrics
from tui.errors import NodeUnreachable, Refused, Unauthorized
from tui.link import (
    Link,
    cloud_state,
    cloud_text,
    node_text,
    outbox_text,
    storage_banner,
    storage_state,
    storage_text,
)
from tui.money import money, plain
from tui.screens.drops import claims_text, countdown
from tui.screens.orders import status_text
from tui.screens.pay import parse_minor
from tui.screens.sync import checkpoint_text, contact_text
from tui.state import ConsoleState

METRICS = """\
# TYPE stallbox_conversion_seconds histogram
stallbox_conversion_seconds_bucket{le="15.0"} 2.0
stallbox_conversion_seconds_bucket{le="30.0"} 6.0
stallbox_conversion_seconds_bucket{le="60.0"} 10.0
stallbox_conversion_seconds_bucket{le="+Inf"} 10.0
stallbox_confirmations_total{rail="pix",verdict="accept"} 3.0
stallbox_confirmations_total{rail="cash",verdict="accept"} 5.0
stallbox_confirmations_total{rail="pix",verdict="refuse"} 1.0
"""


def test_metrics_give_conversion_quantiles_and_confirmations_by_rail() -> None:
    view = parse_metrics(METRICS)
    assert view.conversion_p50_s == pytest.approx(26.25)  # rank 5 in (15, 30]: 15 + 15 * 3/4
    assert view.conversion_p90_s == pytest.approx(52.5)
    assert view.confirmations == {("pix", "accept"): 3, ("cash", "accept"): 5, ("pix", "refuse"): 1}
    assert quantile([], 0.5) is None
    assert quantile([(15.0, 0.0), (float("inf"), 0.0)], 0.5) is None


def test_money_amounts_and_change() -> None:
    assert money(1850, "BRL") == "R$18.50"  # English until the node says the stall's locale
    assert money(1850, "BRL", "pt-BR") == "R$\xa018,50"
    assert money(12345600, "INR", "en-IN") == "₹1,23,456.00"
    assert money(2400, "THB", "th") == "฿24.00"
    assert money(2400, "JPY", "ja") == "￥2,400"  # no minor units in yen
    assert plain(12345600, "INR", "en-IN") == "1,23,456.00"
    assert money(-5, "BRL", "pt-BR") == "-R$\xa00,05"
    assert money(2400, "BRL", "xx-Nope") == "R$24.00"
    assert parse_minor("20") == 2000
    assert parse_minor("20,5") == 2050
    assert parse_minor("0.07") == 7
    for bad in ("", "abc", "1.234", "-3", "1.x"):
        assert parse_minor(bad) is None


def test_drop_countdown_and_claims() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert countdown((now + timedelta(seconds=299)).isoformat(), now) == "in 04:59"
    assert countdown((now + timedelta(hours=2, minutes=5)).isoformat(), now) == "in 2h05m"
    assert countdown(now.isoformat(), now) == "OPEN"
    drop = DropOut(1, "coffee", "Coffee", 600, 50, 38, now.isoformat(), 1, 300, "http://x/d/1")
    assert claims_text(drop) == "12 claimed · 38/50 left"
    sold_out = DropOut(1, "coffee", "Coffee", 600, 5, 0, now.isoformat(), 1, 300, "http://x/d/1")
    assert claims_text(sold_out) == "5 claimed · SOLD OUT"


def test_a_paid_qr_order_shows_what_the_bank_said() -> None:
    paid = OrderOut("o1", 1, "paid", "BRL", 900, "9.00", [], "pix", "00E4", "", "2026-11-26")
    assert status_text(paid) == "paid"  # a node without evidence, or a cash sale: as before
    marks = [status_text(msgspec.structs.replace(paid, evidence=e)) for e in
             ("unverified", "bank", "unmatched")]  # fmt: skip
    assert marks == ["paid · unverified", "paid · bank ✓", "paid · UNMATCHED ✗"]
    ready = msgspec.structs.replace(paid, ready_at="2026-11-26", evidence="bank")
    assert status_text(ready) == "READY ✔ · bank ✓"


def test_every_link_state_is_a_word_and_a_symbol_not_only_a_colour() -> None:
    labels = [
        node_text(Link(node="up")),
        node_text(Link(node="down")),
        node_text(Link(node="connecting")),
        node_text(Link(node="unpaired")),
        cloud_text(Link(cloud="reachable")),
        cloud_text(Link(cloud="unreachable")),
        cloud_text(Link(cloud="unknown")),
    ]
    assert len({label for label, _ in labels}) == len(labels)
    assert all(label[0] in "✔✖…○?" and label[2:].strip() for label, _ in labels)
    assert outbox_text(Link(outbox_depth=3, oldest_unsynced_s=120)) == (
        "outbox 3 (oldest 2m)",
        "ok",
    )
    assert outbox_text(Link(outbox_depth=60, oldest_unsynced_s=5))[1] == "warn"
    assert outbox_text(Link()) == ("outbox ?", "muted")


def test_the_storage_alarm_is_a_word_and_a_symbol_and_silent_while_the_disk_is_fine() -> None:
    assert storage_text(Link(storage="full")) == ("✖ DISK FULL: sales refused", "bad")
    assert storage_text(Link(storage="low", free_bytes=12 * 2**20)) == (
        "⚠ disk low (12 MiB free)",
        "warn",
    )
    assert storage_text(Link(storage="ok"))[0] == storage_text(Link())[0] == ""
    assert "DISK IS FULL" in storage_banner(Link(storage="full"))
    assert storage_banner(Link(storage="low")) == ""
    assert [storage_state(w) for w in ("ok", "low", "full", "", "weird")] == [
        "ok", "low", "full", "unknown", "unknown",
    ]  # fmt: skip


def test_state_file_is_private_and_pins_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "console.json"
    state = ConsoleState(path)
    state.pin("http://box:8080", "dev1", "SHA256:aa", "token-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    again = ConsoleState(path)  # a loosened file is tightened on load
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not again.check("http://box:8080", "dev1", "SHA256:aa").changed
    assert again.check("http://box:8080", "dev1", "SHA256:bb").changed
    assert again.check("http://other:8080", "dev1", "SHA256:bb").changed  # same node id
    assert not again.check("http://new:8080", "dev2", "SHA256:cc").changed  # first contact
    again.forget_token("http://box:8080")
    pinned = ConsoleState(path).node("http://box:8080")
    assert pinned is not None and pinned.token is None and pinned.fingerprint == "SHA256:aa"


def test_a_corrupt_state_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "console.json"
    path.write_text("{not json")
    with pytest.raises(Exception, match="cannot use the console state file"):
        ConsoleState(path)


def mock(handler: httpx.MockTransport) -> NodeClient:
    return NodeClient("http://node.test", "tok", transport=handler)


async def answer_with(status: int, body: bytes, call: str) -> object:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    client = mock(transport)
    try:
        return await getattr(client, call)()
    finally:
        await client.close()


@pytest.mark.anyio
async def test_client_errors_become_console_errors() -> None:
    with pytest.raises(Unauthorized, match="token revoked"):
        await answer_with(401, b'{"error":"token revoked","field":null}', "catalog")
    with pytest.raises(Refused) as refused:
        await answer_with(422, b'{"error":"too long","field":"note"}', "catalog")
    assert refused.value.field == "note" and refused.value.status == 422
    with pytest.raises(Refused, match="unexpected answer"):
        await answer_with(200, b'{"not":"a list"}', "catalog")
    assert await answer_with(404, b'{"error":"no such route"}', "sync_state") is None
    with pytest.raises(Refused):  # only a missing route means "an older node", not any refusal
        await answer_with(500, b'{"error":"disk full","field":null}', "sync_state")

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = mock(httpx.MockTransport(down))
    with pytest.raises(NodeUnreachable):
        await client.stats()
    await client.close()


@pytest.mark.anyio
async def test_the_identity_challenge_goes_without_the_token_and_must_be_answered() -> None:
    seen: list[httpx.Request] = []

    def old_or_impostor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"error": "Not Found", "field": None})

    for status in (404, 500):
        with pytest.raises(Refused, match=f"did not prove its key \\(HTTP {status}"):
            await answer_with(status, b'{"error":"x","field":null}', "identity")
    client = mock(httpx.MockTransport(old_or_impostor))
    with pytest.raises(Refused):  # a 404 is no longer "a node too old to say": no bypass
        await client.identity()
    await client.close()
    assert seen and all("authorization" not in r.headers for r in seen)


@pytest.mark.anyio
async def test_a_plain_http_node_url_is_refused_before_anything_is_sent() -> None:
    client = NodeClient("http://127.0.0.1:9", "tok")
    with pytest.raises(Refused, match="TLS only") as refused:
        await client.stats()
    assert refused.value.field == "node" and client.peer_fingerprint is None
    await client.close()


@pytest.mark.anyio
async def test_tenders_come_from_the_node_once_per_session() -> None:
    seen: list[str] = []

    def node(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        assert request.headers["authorization"] == "Bearer tok"
        return httpx.Response(200, json=["cash", "pix", "upi"])

    client = mock(httpx.MockTransport(node))
    assert await client.tenders() == ["cash", "pix", "upi"]
    assert await client.tenders() == ["cash", "pix", "upi"]
    assert seen == ["GET /api/tenders"]
    await client.close()


@pytest.mark.anyio
async def test_theme_toggles_and_is_remembered_without_a_node(tmp_path: Path) -> None:
    settings = ConsoleSettings(node_url="http://127.0.0.1:9", state_path=tmp_path / "c.json")
    app = build_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        first = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != first
        await pilot.press("f3")  # refused: not paired yet, the connect screen stays
        assert type(app.screen).__name__ == "ConnectScreen"
    assert ConsoleState(tmp_path / "c.json").data.theme == app.theme


def test_cloud_state_and_sync_lines_from_api_sync() -> None:
    def sync(**changes: object) -> SyncOut:
        base: dict[str, object] = {
            "outbox_depth": 2, "oldest_unsynced_s": 30.0, "acked_seq": 7, "cloud_seq": 7,
            "tree_size": 8, "checkpoint": "origin\n8\nroot\n", "last_contact": None,
            "last_error": None, "stopped": None, "via": None,
        }  # fmt: skip
        return SyncOut(**{**base, **changes})  # type: ignore[arg-type]

    now = datetime(2026, 11, 28, 13, 5, tzinfo=UTC)
    assert cloud_state(None) == "unknown"
    assert cloud_state(sync()) == "unknown"
    assert cloud_state(sync(last_contact="2026-11-28T13:02:00+00:00")) == "reachable"
    assert cloud_state(sync(last_contact="2026-11-28T13:02:00+00:00", last_error="timeout")) == (
        "unreachable"
    )
    assert cloud_state(sync(stopped="409 gap at seq 5")) == "stopped"
    assert cloud_text(Link(cloud="stopped")) == ("✖ SYNC STOPPED", "bad")
    assert contact_text(None, now) == "unknown"
    assert contact_text(sync(last_contact="2026-11-28T13:02:00Z", via="peer box-2"), now) == (
        "2026-11-28 13:02 UTC (3m ago) via peer box-2"
    )
    assert checkpoint_text(sync()) == "tree size 8, acknowledged up to seq 7"
    assert checkpoint_text(sync(checkpoint=None)) == "unknown"
