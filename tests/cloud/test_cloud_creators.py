"""Creators, their signed flag sets, decisions synced up, the dashboard and /metrics (issue 20),
through the real app on both stores."""

from __future__ import annotations

import html
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from bundles import upsell
from cloudfix import (
    ADMIN,
    CloudClient,
    StoreOpener,
    make_chain,
    open_store,
    run_with_cloud,
)
from pgserver import pg_server
from prometheus_client.parser import text_string_to_metric_families

from appliance.cli import main
from appliance.flags.bundle import verify_bundle
from appliance.flags.errors import BundleRefused
from appliance.ledger.figures import Latencies, per_live_minute, sales_figures
from appliance.ledger.wire import VERSION, ConversionLatency, FunnelBatch, FunnelCounts, encode
from sync.cloud.creators import CreatorKeys, hash_password, password_matches
from sync.cloud.dashboard import money
from sync.cloud.latency_view import latency_text
from sync.cloud.sessions import FREE_FAILURES, Attempts, cookie_header, creator_of, make_cookie

__all__ = ["open_store", "pg_server"]  # fixtures, used by name

UPSELL = upsell({
    "menu-order": {
        "state": "ENABLED",
        "variants": {"catalogue": "catalogue", "popular": "popular"},
        "defaultVariant": "catalogue",
        "targeting": {"fractional": [["catalogue", 90], ["popular", 10]]},
    },
})  # fmt: skip
PASSWORD = "correct horse battery"
FIGURES = {
    "control": {"views": 3, "paid": 1, "latency_p95_ms": 12.0, "latency_samples": 3},
    "canary": {"views": 0, "paid": 0, "latency_p95_ms": None, "latency_samples": 0},
}
DECISION = {
    "at": "2026-11-26T18:05:00+00:00", "bundle": "ab" * 32, "flag": "cart-upsell",
    "variant": "pastel", "verdict": "off", "reason": "too little data by the deadline",
    "figures": json.dumps(FIGURES, sort_keys=True),
}  # fmt: skip
LATENCY = ConversionLatency([2, 1, 0, 0, 0, 0, 0, 0, 0], 40_000)  # 3 paid: 2 ≤ 15 s, 1 ≤ 30 s
MINUTES = [
    FunnelCounts("2026-11-26T18:00", 9, 5, 4, 3, LATENCY),
    FunnelCounts("2026-11-26T18:01", 4, 2, 2, 2),  # as a box before conversion latency sent it
]


def _cell(page: str, key: str, device: str) -> str:
    marker = f'id="{key}-{device}">'
    return page.split(marker, 1)[1].split("</td>", 1)[0]


def test_flags_decisions_and_dashboard(open_store: StoreOpener) -> None:
    chain, other = make_chain(15), make_chain(2)

    async def scenario(client: CloudClient) -> None:
        tables = client.app.state.creator_tables
        keys: CreatorKeys = client.app.state.creator_keys
        now = datetime.now(UTC).isoformat()
        assert await tables.add_creator("ana", hash_password(PASSWORD), now)
        assert await tables.add_creator("bob", hash_password(PASSWORD + "!"), now)
        token, other_token = await client.enrol(chain), await client.enrol(other)
        assert (await client.post(chain, token, chain.batch(0, 14))).status_code == 200
        funnel = encode(FunnelBatch(VERSION, MINUTES))
        auth = {"Authorization": f"Bearer {token}"}
        assert (await client.http.post(f"/v1/devices/{chain.device}/funnel", content=funnel,
                                       headers=auth)).status_code == 200  # fmt: skip
        await tables.assign(chain.device, "ana", "fair-26", now)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        url = "/api/creators/ana/events/fair-26/flags"
        assert (await client.http.put(url, json=UPSELL)).status_code == 401
        bad = await client.http.put(url, json={"flags": {"x": {"state": "ENABLED"}}}, headers=admin)
        assert bad.status_code == 422 and "flags:" in bad.json()["error"]
        missing = await client.http.put(
            "/api/creators/zed/events/e/flags", json=UPSELL, headers=admin
        )
        assert missing.status_code == 404
        put = await client.http.put(url, json=UPSELL, headers=admin)
        assert put.status_code == 200, put.text
        assert put.json()["scope"] == "ana/fair-26" and put.json()["kid"] == keys.kid

        got = await client.http.get(f"/v1/devices/{chain.device}/flags", headers=auth)
        assert got.status_code == 200
        trusted = {keys.kid: keys.flags_key.public_key()}
        bundle = verify_bundle(got.content, trusted, "ana/fair-26", int(time.time()))
        assert bundle.flags.arms("cart-upsell") == ("control", ("pastel",))
        with pytest.raises(BundleRefused):  # a box of another event refuses it
            verify_bundle(got.content, trusted, "ana/other", int(time.time()))
        same = await client.http.get(
            f"/v1/devices/{chain.device}/flags",
            headers={**auth, "If-None-Match": got.headers["etag"]},
        )
        assert same.status_code == 304
        other_auth = {"Authorization": f"Bearer {other_token}"}
        assert (
            await client.http.get(f"/v1/devices/{other.device}/flags", headers=other_auth)
        ).status_code == 404
        assert (
            await client.http.get(f"/v1/devices/{chain.device}/flags", headers=other_auth)
        ).status_code == 403

        body = {"v": 1, "decisions": [DECISION]}
        path = f"/v1/devices/{chain.device}/flag-decisions"
        assert (await client.http.post(path, json=body, headers=auth)).json() == {"stored": 1}
        assert (await client.http.post(path, json=body, headers=auth)).status_code == 200  # again
        bad_verdict = {"v": 1, "decisions": [{**DECISION, "verdict": "maybe"}]}
        assert (await client.http.post(path, json=bad_verdict, headers=auth)).status_code == 422
        assert len(await tables.decisions([chain.device])) == 1

        start = await client.http.get("/dashboard/events/fair-26")
        assert start.status_code == 303 and start.headers["location"] == "/dashboard/login"
        wrong = await client.http.post(
            "/dashboard/login", data={"creator": "ana", "password": "nope"}
        )
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        login = await client.http.post(
            "/dashboard/login", data={"creator": "ana", "password": PASSWORD}
        )
        assert login.status_code == 303, login.text
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
        page = (await client.http.get("/dashboard/events/fair-26")).text
        expected = sales_figures(r.line for r in chain.receipts)
        assert expected.sales == 10 and expected.voided == 2  # 12 sale lines less 2 voids
        d = chain.device
        assert _cell(page, "revenue", d) == money(expected.revenue, "BRL")
        assert _cell(page, "sales", d) == "10"
        assert _cell(page, "live-minutes", d) == "2"
        assert _cell(page, "per-live-minute", d) == money(
            per_live_minute(expected.revenue, 2), "BRL"
        )
        assert _cell(page, "funnel", d) == "13 → 7 → 6 → 5"
        assert _cell(page, "conversion", d) == f"{5 / 13:.1%}"
        synced = Latencies((2, 1, 0, 0, 0, 0, 0, 0, 0), 40_000)
        assert await tables.conversion_rows(d) == [("2026-11-26T18:00", synced)]
        # rank 1.5 of 3 in (0, 15]: 15 * 1.5/2; rank 2.7 in (15, 30]: 15 + 15 * 0.7
        assert latency_text(synced) == "median 11.2 s · p90 25.5 s (n=3)"
        assert _cell(page, "conversion-latency", d) == html.escape(latency_text(synced))
        assert _cell(page, "conversion-latency", "event") == html.escape(latency_text(synced))
        assert "Conversion latencies of the event by bucket" in page
        assert _cell(page, "bank-share", d) == "0.0% (0/10)"
        assert _cell(page, "edge-rate", d) == "100.0% of 1"
        assert 'data-variant="pastel"' in page and "too little data by the deadline" in page
        measuring = page.split('data-flag="menu-order" data-variant="popular">', 1)[1]
        assert (
            measuring.split("</tr>", 1)[0].count("measuring") == 1
        )  # from the flag set: no decision yet
        assert "<svg" in page and "<script" not in page

        async with httpx.AsyncClient(
            transport=client.http._transport, base_url="http://cloud"
        ) as bob:
            done = await bob.post(
                "/dashboard/login", data={"creator": "bob", "password": PASSWORD + "!"}
            )
            assert done.status_code == 303
            assert (await bob.get("/dashboard/events/fair-26")).status_code == 404
            assert "fair-26" not in (await bob.get("/dashboard")).text
            await tables.add_creator("bob", hash_password(PASSWORD + "?"), now)  # a new password
            assert (await bob.get("/dashboard")).status_code == 303  # ends bob's old session

        metrics = (await client.http.get("/metrics")).text
        families = {f.name: f for f in text_string_to_metric_families(metrics)}
        assert families["stallbox_cloud_devices"].samples[0].value == 2
        decided = families["stallbox_cloud_edge_decisions"].samples
        assert [(s.labels, s.value) for s in decided] == [
            ({"flag": "cart-upsell", "verdict": "off"}, 1.0)
        ]
        latency = {
            (s.name, s.labels.get("le")): s.value
            for s in families["stallbox_cloud_conversion_seconds"].samples
            if s.labels["device"] == d
        }
        assert latency[("stallbox_cloud_conversion_seconds_bucket", "15.0")] == 2
        assert latency[("stallbox_cloud_conversion_seconds_bucket", "30.0")] == 3
        assert latency[("stallbox_cloud_conversion_seconds_bucket", "+Inf")] == 3
        assert latency[("stallbox_cloud_conversion_seconds_count", None)] == 3
        assert latency[("stallbox_cloud_conversion_seconds_sum", None)] == 40.0

    run_with_cloud(open_store, scenario)


def test_failed_logins_lock_out_with_doubling_waits() -> None:
    now = [100.0]
    attempts = Attempts(clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        attempts.failed("c:ana")
    assert attempts.wait("c:ana") == 0
    attempts.failed("c:ana")
    assert attempts.wait("c:ana", "a:x") == 1.0
    attempts.failed("c:ana")
    assert attempts.wait("c:ana") == 2.0
    now[0] += 2.0
    assert attempts.wait("c:ana") == 0
    attempts.succeeded("c:ana")
    attempts.failed("c:ana")
    assert attempts.wait("c:ana") == 0


def test_login_is_refused_429_once_locked(open_store: StoreOpener) -> None:
    async def scenario(client: CloudClient) -> None:
        await client.app.state.creator_tables.add_creator("ana", hash_password(PASSWORD), "t")
        for _ in range(FREE_FAILURES + 1):
            answer = await client.http.post(
                "/dashboard/login", data={"creator": "ana", "password": "x"}
            )
            assert answer.status_code == 401
        locked = await client.http.post(
            "/dashboard/login", data={"creator": "ana", "password": PASSWORD}
        )
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1

    run_with_cloud(open_store, scenario)


def test_session_cookie_and_password_hash() -> None:
    secret = b"s" * 32
    value = make_cookie(secret, "ana", 1000.0)
    assert creator_of(secret, value, 1001.0) == "ana"
    assert creator_of(b"t" * 32, value, 1001.0) is None  # another key
    assert creator_of(secret, value, 1000.0 + 13 * 3600) is None  # expired
    body, mac = value.split(".")
    assert creator_of(secret, body[:-2] + "xx." + mac, 1001.0) is None  # tampered
    assert cookie_header("v", secure=True).endswith("; HttpOnly; SameSite=Strict; Secure")
    assert "Secure" not in cookie_header("v", secure=False)
    stored = hash_password(PASSWORD)
    assert PASSWORD not in stored and stored.startswith("scrypt$16384$8$1$")
    assert password_matches(PASSWORD, stored) and not password_matches(PASSWORD + "x", stored)


def test_creator_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "cloud"
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    assert (
        main(
            [
                "cloud",
                "creator",
                "add",
                "ana",
                "--state",
                str(state),
                "--password-file",
                str(secret),
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "creator ana: added" in out.out and PASSWORD not in out.out + out.err
    short = tmp_path / "short"
    short.write_text("abc\n")
    assert (
        main(
            ["cloud", "creator", "add", "bob", "--state", str(state), "--password-file", str(short)]
        )
        == 2
    )
    assert "password:" in capsys.readouterr().err
    assert main(["cloud", "creator", "assign", "ana", "--event", "fair", "--device", "aaaaaaaaaa",
                 "--state", str(state)]) == 1  # fmt: skip
    assert "--device: aaaaaaaaaa is not enrolled" in capsys.readouterr().err
    doc = tmp_path / "flags.json"
    doc.write_text(json.dumps(UPSELL))
    assert (
        main(
            ["cloud", "creator", "flags", "ana", "--event", "fair", str(doc), "--state", str(state)]
        )
        == 0
    )
    assert "flags for ana/fair signed by cloud-" in capsys.readouterr().out
    assert main(["cloud", "creator", "flags-key", "--state", str(state)]) == 0
    trust = capsys.readouterr().out
    assert trust.startswith("[flags]") and "keys = {" in trust
    assert (state / "flags.key").stat().st_mode & 0o077 == 0
