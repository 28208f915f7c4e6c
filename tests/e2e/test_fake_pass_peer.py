"""A fake box on the LAN (loopback mDNS) that plays a real node's own pass messages back to it.

A real `stallbox node` sharing redemptions (`[passes] boxes = 2`, its peer away) finds the fake
over mDNS and talks to it; the fake forwards every request to the node itself, so the node's
pulls and pushes come back signed by its own key. Before the fix the node stored its own
redemption again as a peer's (one coffee counted twice) and took itself for its peer in sight;
now it refuses its own messages and names why (docs/security.md, "Neighbours").
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nodeproc import NodeProcess, start_node
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from appliance.config import sample_config
from appliance.discovery import Advertiser, NodeAd
from appliance.ledger.identity import load_key
from appliance.passes.cose import raw_public
from appliance.passes.model import Entitlement, Kind, Pass, Period
from appliance.passes.trust import delegate, issue_pass
from appliance.services.box import init_state

ANA = Ed25519PrivateKey.generate()


def pass_box(state: Path) -> str:
    """A state dir delegated by creator:ana, sharing with one other box; a pass of 2 coffees."""
    now = int(time.time())
    init_state(state, "BRL", datetime.now(UTC))
    (state / "passes").mkdir()
    window = (now - 3600, now + 86400)
    (state / "passes" / "box.delegation").write_bytes(
        delegate(ANA, "creator:ana", load_key(state).public, "box a", window)
    )
    (state / "stallbox.toml").write_text(
        sample_config("BRL") + "\n[passes]\n"
        f'creators = {{ "creator:ana" = "{raw_public(ANA.public_key()).hex()}" }}\n'
        'delegation = "passes/box.delegation"\nevent = "fair"\nboxes = 2\nsight_s = 5.0\n'
    )  # fmt: skip
    card = Pass(
        pass_id=secrets.token_hex(16), issuer="creator:ana", holder="Fan",
        valid_from=now - 3600, valid_until=now + 86400, issued_at=now - 3600,
        entitlements=(Entitlement(Kind.ALLOWANCE, 2, ("coffee",), period=Period.EVENT),),
        signed_by="",
    )  # fmt: skip
    return issue_pass(ANA, card)


class Reflector:
    """An HTTP server on 127.0.0.1 that forwards every request to `target` and answers with it."""

    def __init__(self, target: str) -> None:
        async def forward(request: Request) -> Response:
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.request(
                    request.method, target + request.url.path, params=request.query_params,
                    content=await request.body(),
                    headers={"content-type": request.headers.get("content-type", "")},
                )  # fmt: skip
            return Response(answer.content, answer.status_code, media_type="application/json")

        app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the reflector did not start"
            time.sleep(0.02)
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[NodeProcess, str]]:
    text = pass_box(tmp_path / "a")
    process = start_node(tmp_path / "a")
    try:
        yield process, text
    finally:
        process.stop()


def test_a_fake_peer_playing_the_node_s_own_messages_back_counts_for_nothing(
    node: tuple[NodeProcess, str],
) -> None:
    process, text = node
    token = process.pair()
    with Reflector(process.url) as port:

        def fake_peer() -> dict[str, str] | None:
            with process.client(token) as client:
                peers = client.get("/api/passes/peers").json()["peers"]
            return next((p for p in peers if p["url"].endswith(f":{port}")), None)

        async def advertise_and_order() -> dict[str, str]:
            ad = Advertiser(NodeAd("Fake Stall", "fakebox001", port, "SHA256:x"), "loopback")
            await ad.start()
            try:
                deadline = time.monotonic() + 20
                while (peer := await asyncio.to_thread(fake_peer)) is None:
                    assert time.monotonic() < deadline, "the node never found the fake box"
                    await asyncio.sleep(0.2)
                async with httpx.AsyncClient() as phone:
                    form = {"coffee": "1", "pass": text, "tender": "cash"}
                    placed = await phone.post(process.url + "/order", data=form)
                assert placed.status_code == 303, placed.text[:300]
                while "own key" not in (peer or {}).get("problem", ""):
                    assert time.monotonic() < deadline, f"the fake was believed: {peer}"
                    await asyncio.sleep(0.2)
                    peer = await asyncio.to_thread(fake_peer)
                assert peer is not None
                return peer
            finally:
                await ad.close()

        peer = asyncio.run(advertise_and_order())
    assert peer["box"] in ("", None), peer
    db = sqlite3.connect(process.state / "stallbox.db")
    try:
        as_peer = db.execute("SELECT count(*) FROM pass_redemptions WHERE box != ''").fetchone()
    finally:
        db.close()
    assert as_peer == (0,)  # its own coffee was not counted again as a peer's
