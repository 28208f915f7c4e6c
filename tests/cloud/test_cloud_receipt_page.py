"""The /v receipt page in headless Debian Chromium: WebCrypto Ed25519 and the inclusion proof in JS."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cloudfix import evidence_chain, make_chain
from nodeproc import run_cli
from syncproc import Proc, start_cloud

from appliance.ledger.identity import public_key_text
from appliance.ledger.wire import encode

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason="Debian chromium not installed",
)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Proc]:
    running = start_cloud(tmp_path / "cloud")
    yield running
    assert running.stop() == 0


def test_receipt_page_verifies_signature_and_log_inclusion(cloud: Proc) -> None:
    chain = make_chain(13)
    token = run_cli("cloud", "enrol-token", "--state", str(cloud.state)).stdout.strip()
    with httpx.Client(base_url=cloud.url, timeout=10) as http:
        enrolled = http.post(
            "/v1/enrol", json={"token": token, "public_key": public_key_text(chain.key.public)}
        ).json()
        answer = http.post(
            f"/v1/devices/{chain.device}/receipts", content=encode(chain.batch(0, 11)),
            headers={"Authorization": f"Bearer {enrolled['api_token']}"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text

    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            missing: list[str] = []  # the favicon is served: no page load logs a 404
            page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            line = chain.receipts[5].line
            page.goto(f"{cloud.url}/v#{line}")
            page.wait_for_function("!document.getElementById('status').textContent.includes('…')")
            page.wait_for_load_state("networkidle")
            assert missing == [] and errors == [], (missing, errors)
            assert page.inner_text("#status") == "Genuine receipt, kept in the cloud's log."
            assert "Signature verified" in page.inner_text("#signature")
            assert page.inner_text("#log") == "Log index 5 of tree size 12"
            assert page.inner_text("#proof") == "Inclusion proof verified"
            assert page.inner_text("#evidence").startswith("unverified: no bank evidence")
            assert page.inner_text("#checkpoint") == "Signed by " + cloud.output[0].split("(log ")[
                1
            ].rstrip(")\n")

            tampered = line.replace(";3700;", ";3701;")
            page.goto(f"{cloud.url}/v#{tampered}")
            page.reload()  # a new fragment alone does not reload the page
            page.wait_for_function("!document.getElementById('status').textContent.includes('…')")
            assert "does NOT verify" in page.inner_text("#signature")
            # found by its own line's digest, a tampered line finds nothing (and no neighbour)
            assert page.inner_text("#log") == "Not in the cloud's log (yet)"
            assert page.inner_text("#status") == "Not a genuine receipt."

            page.goto(f"{cloud.url}/v#{chain.receipts[12].line}")  # genuine, not uploaded yet
            page.reload()
            page.wait_for_function("!document.getElementById('status').textContent.includes('…')")
            assert page.inner_text("#status") == "Genuine receipt, not yet uploaded."
        finally:
            browser.close()


def test_receipt_page_shows_a_sales_bank_evidence(cloud: Proc) -> None:
    """A sale's line on /v: "unmatched" once a statement missed it, "bank ✓" once the credit came."""
    chain = evidence_chain()  # start, sale 1, sale 2, u1, b1, b2
    token = run_cli("cloud", "enrol-token", "--state", str(cloud.state)).stdout.strip()
    with httpx.Client(base_url=cloud.url, timeout=10) as http:
        enrolled = http.post(
            "/v1/enrol", json={"token": token, "public_key": public_key_text(chain.key.public)}
        ).json()
        auth = {"Authorization": f"Bearer {enrolled['api_token']}"}

        def upload(first: int, last: int) -> None:
            answer = http.post(
                f"/v1/devices/{chain.device}/receipts",
                content=encode(chain.batch(first, last)), headers=auth,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text

        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = browser.new_page()

                def evidence_row() -> str:
                    page.goto(f"{cloud.url}/v#{chain.receipts[1].line}")
                    page.reload()
                    page.wait_for_function(
                        "!document.getElementById('status').textContent.includes('…')"
                    )
                    assert page.inner_text("#status") == "Genuine receipt, kept in the cloud's log."
                    return str(page.inner_text("#evidence"))

                upload(0, 3)
                assert evidence_row().startswith("unmatched: a bank statement covering this sale")
                assert "(evidence receipt #3)" in evidence_row()
                upload(4, 5)
                assert evidence_row().startswith("bank ✓")
                assert page.get_attribute("#evidence", "class") == "ok"
            finally:
                browser.close()
