"""The /v receipt page does not trust the cloud that serves it: a forging cloud gets a red page.

A small HTTP server on 127.0.0.1 plays the cloud, serving the real verify.html and favicon with
answers the test chooses: a consistent log for a genuine receipt (green, the control), its own
key served under another device's id with a line it signed in that device's name, and a
checkpoint of another origin signed under the log's key name. Headless Debian Chromium runs the
page; no page load may log a 404 (the favicon is served).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import GENESIS_PREV, ReceiptType, b64, build_receipt, signing_input
from appliance.ledger.wire import line_digest
from sync.checkpoint import sign_checkpoint, verifier_key
from sync.cloud.app import FAVICON, VERIFY_PAGE
from sync.tlog import leaf_hash

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

DEVICE_KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
FORGER_KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39))))
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))
ORIGIN = "cloud.example/log"
ITEMS = [{"name": "Pastel", "qty": 2, "sku": "pastel", "unit": 950}]


def genuine_line() -> str:
    return build_receipt(
        DEVICE_KEY, device_id=DEVICE_KEY.key_id, epoch=0, seq=0,
        at=datetime(2026, 11, 26, 18, 0, tzinfo=UTC), kind=ReceiptType.SALE, currency="BRL",
        total=1900, items=ITEMS, prev_hash=GENESIS_PREV, ref="A1",
    ).line  # fmt: skip


def forged_line() -> str:
    """A line in the device's name (device and key fields are its id), signed by the forger."""
    body = genuine_line().rsplit(";", 1)[0].replace(";1900;", ";9900;")
    return f"{body};{b64(FORGER_KEY.sign(signing_input(body)))}"


def answers(line: str, served: DeviceKey, checkpoint_origin: str) -> dict[str, Any]:
    """What the cloud answers for a one-entry log holding `line`."""
    note = sign_checkpoint(LOG_KEY, ORIGIN, checkpoint_origin, 1, leaf_hash(line.encode()))
    device = line.split(";")[1]
    return {
        f"/v1/devices/{device}/key": {
            "device": device,
            "public_key": public_key_text(served.public),
            "raw_public_key": public_key_text(served.public),
        },
        f"/v1/devices/{device}/receipts/0/{line_digest(line)}": {
            "device": device, "seq": 0, "line": line, "index": 0, "checkpoint": note,
            "inclusion": [],
        },
        f"/v1/devices/{device}/receipts/0/{line_digest(line)}/evidence": {
            "device": device, "seq": 0, "state": "unverified", "evidence_seq": None,
        },
        "/v1/log": {"origin": ORIGIN, "verifier_key": verifier_key(ORIGIN, LOG_KEY.public_key())},
    }  # fmt: skip


class FakeCloud:
    """A cloud on 127.0.0.1, port 0, that answers whatever `routes` holds."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/v":
                    self._send(200, "text/html; charset=utf-8", VERIFY_PAGE.read_bytes())
                elif path in ("/favicon.svg", "/favicon.ico"):
                    self._send(200, "image/svg+xml", FAVICON.read_bytes())
                elif path in fake.routes:
                    self._send(200, "application/json", json.dumps(fake.routes[path]).encode())
                else:
                    self._send(404, "application/json", b'{"detail":"not found"}')

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    fake = FakeCloud()
    yield fake
    fake.close()


@pytest.fixture
def page(cloud: FakeCloud) -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def check(page: Any, cloud: FakeCloud, line: str) -> dict[str, str]:
    """Load /v#line; return the page's rows once it is done, and every 404 it met."""
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{cloud.url}/v#{line}")
    page.wait_for_function(
        "!document.getElementById('status').textContent.includes('…')", timeout=20_000
    )
    rows = {name: page.inner_text(f"#{name}") for name in ("status", "signature", "checkpoint")}
    rows["status_class"] = page.get_attribute("#status", "class") or ""
    rows["404"] = " ".join(missing)
    return rows


def test_a_consistent_cloud_shows_green(page: Any, cloud: FakeCloud) -> None:
    """The control: the same fake, telling the truth, passes every check."""
    line = genuine_line()
    cloud.routes = answers(line, DEVICE_KEY, ORIGIN)
    rows = check(page, cloud, line)
    assert rows["status"] == "Genuine receipt, kept in the cloud's log.", rows
    assert rows["status_class"] == "ok" and rows["404"] == ""


def test_a_key_that_is_not_the_device_id_shows_red(page: Any, cloud: FakeCloud) -> None:
    """The forger's own key served as the device's: the signature verifies, the binding not."""
    line = forged_line()
    cloud.routes = answers(line, FORGER_KEY, ORIGIN)
    rows = check(page, cloud, line)
    assert "NOT this device's key" in rows["signature"], rows
    assert f"key id {FORGER_KEY.key_id}, device {DEVICE_KEY.key_id}" in rows["signature"]
    assert rows["status"] == "This receipt did NOT check out." and rows["status_class"] == "bad"
    assert rows["404"] == ""


def test_a_checkpoint_of_another_origin_shows_red(page: Any, cloud: FakeCloud) -> None:
    """A checkpoint signed under the log's key name but for another log's origin line."""
    line = genuine_line()
    cloud.routes = answers(line, DEVICE_KEY, "elsewhere.example/log")
    rows = check(page, cloud, line)
    assert "Signature verified" in rows["signature"], rows
    assert rows["checkpoint"] == f"Checkpoint of ANOTHER log (elsewhere.example/log, not {ORIGIN})"
    assert rows["status"] == "This receipt did NOT check out." and rows["status_class"] == "bad"
    assert rows["404"] == ""


def test_the_page_s_key_id_is_the_ledger_s(page: Any, cloud: FakeCloud) -> None:
    """The base32 key id the page computes is the one appliance.ledger computes, for many keys."""
    page.goto(f"{cloud.url}/v#x")
    page.wait_for_function("!document.getElementById('status').textContent.includes('…')")
    for n in range(20):
        key = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))
        raw = base64.urlsafe_b64decode(public_key_text(key.public) + "=")
        assert page.evaluate("(raw) => keyIdOf(Uint8Array.from(raw))", list(raw)) == key.key_id
