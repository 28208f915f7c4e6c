"""The two planes as a stranger on the Wi-Fi meets them (issue 11), on a real node process.

- every operator path answers 404 (JSON) on the plain-HTTP attendee port, and the attendee
  pages keep working there; the operator plane speaks TLS 1.3 only, with the device key;
- a loopback capture of pairing, a sale, the event stream and /metrics holds neither the code,
  nor the token, nor any receipt field in cleartext, and replaying it gets nothing accepted;
- impostors (another key answering 404 or 500 to everything, a plain-HTTP one, a TLS proxy
  with its own certificate) never receive the token, and the console's error says why;
- a console pairing for the first time through such a proxy fails the PAKE and sends nothing
  but the two pairing requests (no code, no token crosses).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from capture import Capture, can_capture
from impostor import Impostor, port_of
from nodeproc import NodeProcess, run_cli, start_node
from starlette.routing import Route

from appliance.api.app import Planes
from appliance.config import parse_config, sample_config
from appliance.ledger.identity import fingerprint, load_key
from tui.client import NodeClient
from tui.errors import ConsoleError, KeyChanged, NodeUnreachable, Refused, Unauthorized
from tui.pairing import pair_blocking


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    running = start_node(tmp_path_factory.mktemp("planes") / "state")
    yield running
    if running.process.poll() is None:
        running.stop()


def operator_requests() -> list[tuple[str, str]]:
    """Every (method, path) the operator plane routes, path parameters filled in."""
    planes = Planes(parse_config(sample_config()), Path("/nonexistent"), port=0, operator_port=0)
    found = []
    for route in planes.operator.routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "x1", route.path_format)
        found += [(method, path) for method in sorted(route.methods or {"GET"}) if method != "HEAD"]
    return found


def test_every_operator_path_is_404_on_the_attendee_port(node: NodeProcess) -> None:
    requests = operator_requests()
    paths = {path for _, path in requests}
    pairing = {"/api/pair/start", "/api/pair/finish", "/api/pair/local"}
    assert {*pairing, "/api/events", "/metrics", "/api/openapi.json"} <= paths
    assert any(path.startswith("/relay/") for path in paths)
    with node.phone() as phone:
        for method, path in requests:
            answer = phone.request(method, path, content=b"{}")
            assert answer.status_code == 404, (method, path, answer.status_code)
            assert answer.json()["error"], (method, path)
        assert phone.get("/").status_code == 200 and "<form" in phone.get("/").text
        assert phone.get("/sign").status_code == 200
        assert phone.get("/healthz").json()["ok"] is True
        placed = phone.post("/order", data={"pastel": "1", "tender": "cash", "note": ""})
        assert placed.status_code == 303 and placed.headers["location"].startswith("/o/")
    with node.client() as operator:  # and no route is in both
        for path in ("/", "/sign", "/healthz", placed.headers["location"]):
            assert operator.get(path).status_code == 404, path


def test_the_operator_plane_is_tls_13_with_the_device_key_only(node: NodeProcess) -> None:
    port = port_of(node.operator_url)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        pytest.raises(ssl.SSLError),
        socket.create_connection(("127.0.0.1", port), 5) as raw,
        old.wrap_socket(raw),
    ):
        pass
    with socket.create_connection(("127.0.0.1", port), 5) as raw:  # no plain-HTTP operator mode
        raw.sendall(b"GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n")
        raw.settimeout(5)
        with contextlib.suppress(OSError):
            assert not raw.recv(100).startswith(b"HTTP/")
    client = NodeClient(node.operator_url, pin=fingerprint(load_key(node.state).public))
    assert asyncio.run(_proven(client)) == fingerprint(load_key(node.state).public)


async def _proven(client: NodeClient) -> str | None:
    try:
        await client.identity()
        return client.peer_fingerprint
    finally:
        await client.close()


@pytest.mark.skipif(not can_capture(), reason="a raw packet socket needs root or CAP_NET_RAW")
def test_a_capture_of_pairing_a_sale_events_and_metrics_holds_no_secret(
    node: NodeProcess,
) -> None:
    ports = {port_of(node.url), port_of(node.operator_url)}
    with Capture(ports) as capture:
        code = run_cli("pair", "--state", str(node.state)).stdout.split()[2]
        with node.client() as pairing:  # the PAKE over the code, as a console runs it
            token = pair_blocking(pairing, code, "t", node.fingerprint).token
        with node.client(token) as api:
            seen: list[str] = []
            reader = threading.Thread(target=_read_events, args=(node, token, seen), daemon=True)
            reader.start()
            _wait(lambda: len(seen) > 0, "the event stream to open")
            order = api.post("/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]}).json()
            api.post(f"/api/orders/{order['id']}/tender", json={"tender": "cash"})
            receipt = api.post(f"/api/orders/{order['id']}/confirm", json={}).json()["receipt"]
            _wait(lambda: any(order["id"] in chunk for chunk in seen), "the order's event")
            metrics = api.get("/metrics").text
            stats = api.get("/api/stats").json()
        time.sleep(0.2)  # the last segments reach the capture socket (a bound, not a wait on state)
    assert capture.segments > 10, "the capture saw nothing: it would prove nothing"
    cleartext = capture.everything()
    secrets = [code, token, order["id"], receipt["line"], *receipt["line"].split(";")[1:]]
    secrets += ["stallbox_sales_total", "event: order", "Authorization", "/api/"]
    for secret in secrets:
        if len(secret) >= 6:
            assert secret.encode() not in cleartext, f"{secret!r} went over the wire in cleartext"
    assert "stallbox_sales_total" in metrics  # the same words do exist, inside TLS

    replies = [_replay(port_of(node.operator_url), sent) for sent in capture.to_server(
        port_of(node.operator_url))]  # fmt: skip
    assert replies and not any(reply.startswith(b"HTTP/") for reply in replies)
    with node.client(token) as api:
        after = api.get("/api/stats").json()
    assert after["sales"] == stats["sales"] and after["revenue"] == stats["revenue"]


def _read_events(node: NodeProcess, token: str, seen: list[str]) -> None:
    with node.client(token) as api, api.stream("GET", "/api/events", timeout=10) as stream:
        seen.append("open")
        for chunk in stream.iter_text():
            seen.append(chunk)
            if '"paid"' in chunk:
                return


def _wait(check: Callable[[], bool], what: str, deadline_s: float = 10) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _replay(port: int, sent: bytes) -> bytes:
    """Send a captured client stream to the node again, as a second process would; its reply."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.settimeout(2)
        with contextlib.suppress(OSError):
            sock.sendall(sent)
            while chunk := sock.recv(65_536):
                got += chunk
    return got


@pytest.mark.parametrize("mode", ["404", "500", "plain", "proxy"])
def test_an_impostor_receives_no_token_and_the_console_says_why(
    node: NodeProcess, tmp_path: Path, mode: str
) -> None:
    token = node.pair()
    pin = fingerprint(load_key(node.state).public)
    with Impostor(tmp_path, mode, node) as impostor:
        errors = asyncio.run(_console_calls(impostor.url, token, pin))
    assert token.encode() not in impostor.received
    assert b"Authorization" not in impostor.received
    if mode != "plain":  # a plain server reads the ClientHello; a TLS one decrypts nothing
        assert not impostor.received
    for error in errors:
        if mode == "plain":
            assert isinstance(error, NodeUnreachable), error
        else:
            assert isinstance(error, KeyChanged), error
            assert "THE NODE'S KEY HAS CHANGED" in str(error) and pin in str(error)


async def _console_calls(url: str, token: str, pin: str) -> list[ConsoleError]:
    """What a console pinned to the node does at the impostor's address: each call's error."""
    errors: list[ConsoleError] = []
    client = NodeClient(url, token, pin=pin, timeout_s=3)
    try:
        for call in (client.identity, client.stats, client.catalog):
            try:
                await call()
            except ConsoleError as exc:
                errors.append(exc)
        with contextlib.suppress(ConsoleError):
            async for _ in client.events():
                break
    finally:
        await client.close()
    assert len(errors) == 3
    return errors


def test_first_pairing_through_a_tls_proxy_fails_the_pake_and_sends_nothing_else(
    tmp_path: Path,
) -> None:
    """No pin yet: the console binds the proxy's key, the node its own; the confirmation fails.

    A node of its own: the module's node has spent this address's pairing budget already.
    """
    node = start_node(tmp_path / "state")
    try:
        code = run_cli("pair", "--state", str(node.state)).stdout.split()[2]
        with Impostor(tmp_path / "proxy", "proxy", node) as proxy:
            client = NodeClient(proxy.url, timeout_s=5)

            async def pair() -> None:
                try:
                    await client.pair(code, "t")
                finally:
                    await client.close()

            with pytest.raises(Unauthorized, match="something between this console and the box"):
                asyncio.run(pair())
            assert client.peer_fingerprint != node.fingerprint  # the proxy's key, as proven
        assert client.token is None
        sent = bytes(proxy.received)
        requests = re.findall(rb"(GET|POST|PUT|PATCH|DELETE) (/\S*) HTTP/1\.1\r\n", sent)
        assert requests == [(b"POST", b"/api/pair/start"), (b"POST", b"/api/pair/finish")]
        assert code.encode() not in sent and b"Authorization" not in sent
        answers = bytes(proxy.returned)
        assert answers.count(b"HTTP/1.1 200") == 1 and answers.count(b"HTTP/1.1 401") == 1
        assert b"sealed" not in answers and b"SBT1" not in answers  # the node issued nothing
        assert _pair_when_allowed(node, code)  # the failed run did not spend the vendor's code
    finally:
        node.stop()


def _pair_when_allowed(node: NodeProcess, code: str, deadline_s: float = 10) -> str:
    """Pair directly with `code`, waiting out this address's rate limit (429) for a bounded time."""
    deadline = time.monotonic() + deadline_s
    with node.client() as direct:
        while True:
            try:
                return pair_blocking(direct, code, "vendor", node.fingerprint).token
            except Refused as exc:
                if exc.status != 429 or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
