"""The creator's dashboard in headless Debian Chromium, over a scripted event (issue 20).

Real processes: a cloud, a node and `stallbox sync --once`. The creator is registered and the box
assigned to her event with the CLI; the event's flag set (an upsell canary) goes down through
sync to the node, which verifies it and — with no data by its one-second deadline — switches the
canary arm off by itself; the decision and the sales and funnel minutes go up through sync. The
page, behind the creator's login, shows figures equal to those computed from the synced
receipts and funnel minutes (the conversion latency from the minutes' histograms, the same the
box kept), and the box's decision; another creator cannot see the event.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from nodeproc import start_node
from syncproc import start_cloud

from appliance.cli import main
from appliance.ledger.figures import Latencies, merge, per_live_minute, sales_figures, share
from appliance.services.cloud_account import load_account
from appliance.store.connection import DB_NAME as BOX_DB
from sync.cloud.dashboard import money, percent
from sync.cloud.latency_view import latency_text
from sync.cloud.sqlite_store import DB_NAME as CLOUD_DB

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
UPSELL = (
    '{"flags": {"cart-upsell": {"state": "ENABLED", "variants": {"control": null, "pastel":'
    ' {"sku": "pastel", "price": 500}}, "defaultVariant": "control",'
    ' "targeting": {"fractional": [["control", 50], ["pastel", 50]]}}}}'
)
PASSWORD = "a long creator password"
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed"),
    pytest.mark.slow,  # a node, a browser (and a cloud): scheduled first (conftest.py)
]


@pytest.fixture
def ok(capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """Run `stallbox ARGS` in this process (the same `main` as the CLI; a process start saved)."""

    def run(*args: str) -> str:
        code = main(list(args))
        out = capsys.readouterr()
        assert code == 0, f"{args}: {out.err}"
        return out.out

    return run


def wait_for(what: str, check: Any, deadline_s: float = 15.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"not in {deadline_s} s: {what}")


def synced(cloud_state: Path, device: str) -> tuple[list[str], list[tuple[int, ...]], Latencies]:
    conn = sqlite3.connect(cloud_state / CLOUD_DB)
    try:
        lines = [
            r[0] for r in conn.execute("SELECT line FROM receipts WHERE device = ?", (device,))
        ]
        funnel = conn.execute(
            "SELECT menu, cart, ordered, paid FROM funnel WHERE device = ?", (device,)
        ).fetchall()
        latencies = conn.execute(
            "SELECT buckets, sum_ms FROM funnel_latency WHERE device = ?", (device,)
        ).fetchall()
        return lines, funnel, merge(Latencies.parse(b, s) for b, s in latencies)
    finally:
        conn.close()


def kept_on_the_box(box: Path) -> Latencies:
    conn = sqlite3.connect(box / BOX_DB)
    try:
        rows = conn.execute(
            "SELECT conversion, conversion_sum_ms FROM funnel_minutes WHERE conversion NOT NULL"
        ).fetchall()
        return merge(Latencies.parse(b, s) for b, s in rows)
    finally:
        conn.close()


def test_dashboard_shows_the_synced_figures_and_the_box_decision(
    tmp_path: Path, ok: Callable[..., str]
) -> None:
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    trust = ok("cloud", "creator", "flags-key", "--state", str(cloud_state))
    keys_line = next(line for line in trust.splitlines() if line.startswith("keys = "))
    for creator in ("ana", "bob"):
        ok(
            "cloud",
            "creator",
            "add",
            creator,
            "--state",
            str(cloud_state),
            "--password-file",
            str(secret),
        )
    ok("init", "--state", str(box))
    config = box / "stallbox.toml"
    config.write_text(
        config.read_text()
        + f'\n[flags]\nscope = "ana/fair-26"\n{keys_line}\njudge_interval_s = 0.1\ndeadline_s = 1.0\n'
    )
    cloud = start_cloud(cloud_state)
    try:
        token = ok("cloud", "enrol-token", "--state", str(cloud_state)).split()[-1]
        ok("enrol", cloud.url, token, "--state", str(box))
        device = load_account(box).device
        ok("cloud", "creator", "assign", "ana", "--event", "fair-26", "--device", device,
           "--state", str(cloud_state))  # fmt: skip
        flags_file = tmp_path / "flags.json"
        flags_file.write_text(UPSELL)
        ok("cloud", "creator", "flags", "ana", "--event", "fair-26", str(flags_file),
           "--state", str(cloud_state))  # fmt: skip
        node = start_node(box)
        try:
            token = node.pair()
            with node.phone() as phone, node.client(token) as api:
                for qty in ("1", "2"):
                    phone.get("/")
                    placed = phone.post(
                        "/order", data={"pastel": qty, "tender": "cash", "note": ""}
                    )
                    order_id = placed.headers["location"].split("/")[2]
                    assert api.post(f"/api/orders/{order_id}/confirm", json={}).json()["accepted"]
                assert "funnel minutes" in ok("sync", "--once", "--state", str(box))
                wait_for(
                    "the node takes the bundle", lambda: api.get("/api/flags").json()["bundle"]
                )
                decided = wait_for(
                    "the canary is off", lambda: api.get("/api/flags").json()["decisions"]
                )
                assert decided[0]["verdict"] == "off" and decided[0]["variant"] == "pastel"
        finally:
            assert node.stop() == 0  # folds the last partial minute of the funnel
        ok("sync", "--once", "--state", str(box))  # the funnel minute and the decision go up
        lines, funnel, latencies = synced(cloud_state, device)
        assert funnel, "no funnel minute synced"
        assert latencies.count == 2 and latencies == kept_on_the_box(box)  # a phone, two orders
        expected = sales_figures(lines)
        assert expected.sales == 2

        anonymous = httpx.get(f"{cloud.url}/dashboard/events/fair-26", follow_redirects=False)
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/dashboard/login"
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            phone = browser.new_context(locale="en", viewport={"width": 360, "height": 740})
            page = phone.new_page()
            page.goto(f"{cloud.url}/dashboard/events/fair-26")
            assert page.url.endswith("/dashboard/login")
            page.fill("#creator", "ana")
            page.fill("#password", PASSWORD)
            page.click("text=Log in")
            page.wait_for_url("**/dashboard")
            page.click("text=fair-26")
            page.wait_for_url("**/dashboard/events/fair-26")

            def cell(key: str) -> str:
                return str(page.inner_text(f"#{key}-{device}")).strip()

            menu, paid = sum(r[0] for r in funnel), sum(r[3] for r in funnel)
            assert cell("revenue") == money(expected.revenue, "BRL")
            assert cell("sales") == "2"
            assert cell("live-minutes") == str(len(funnel))
            assert cell("per-live-minute") == money(
                per_live_minute(expected.revenue, len(funnel)), "BRL"
            )
            assert cell("conversion") == percent(share(paid, menu))
            assert cell("conversion-latency") == latency_text(latencies)
            assert page.inner_text("#conversion-latency-event") == latency_text(latencies)
            assert cell("bank-share") == f"{percent(share(0, 2))} (0/2)"
            assert cell("edge-rate") == "100.0% of 1"
            arm = page.locator('tr.arm[data-flag="cart-upsell"][data-variant="pastel"] .verdict')
            assert re.match(r"off: .+", arm.inner_text()), arm.inner_text()
            assert page.evaluate("document.documentElement.scrollWidth") <= 360  # fits a phone
            cookie = next(c for c in phone.cookies() if c["name"] == "sbc")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

            other = browser.new_context(locale="en").new_page()
            other.goto(f"{cloud.url}/dashboard/login")
            other.fill("#creator", "bob")
            other.fill("#password", PASSWORD)
            other.click("text=Log in")
            other.wait_for_url("**/dashboard")
            answer = other.goto(f"{cloud.url}/dashboard/events/fair-26")
            assert answer is not None and answer.status == 404
            assert "Revenue" not in other.content()
            browser.close()
    finally:
        cloud.stop()
