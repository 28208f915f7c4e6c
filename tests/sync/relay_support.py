"""In-process parts for relay tests: a cloud app, a box's state dir with sales, a node app."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.applications import Starlette

from appliance.api.app import Planes
from appliance.config import parse_config, sample_config
from appliance.ledger.identity import load_key, public_key_text
from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box, init_state
from appliance.services.cloud_account import CloudAccount, save_account
from appliance.services.relay_keys import OriginKeys, read_key
from sync.cloud.app import create_app as create_cloud_app
from sync.cloud.service import Cloud
from sync.cloud.sqlite_store import SqliteStore

T0 = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
LOG_KEY = Ed25519PrivateKey.generate()
ORIGIN = "stallbox.cloud/relay-test"
ADMIN = "admin-token-for-relay-tests-0123456789"
CLOUD_URL = "https://cloud"  # in-process (ASGI); http:// is refused off loopback


def make_box(state: Path, sales: int) -> int:
    """A state dir with a start receipt and `sales` sale receipts; return the head seq."""
    init_state(state, "BRL", T0)
    box = Box.open(state, "BRL")
    try:

        def append(conn: object) -> int:
            seq = 0
            for i in range(sales):
                items = [{"name": "Pastel", "qty": 1, "sku": "pastel", "unit": 950}]
                seq = box.append(
                    conn,  # type: ignore[arg-type]
                    kind=ReceiptType.SALE,
                    at=T0 + timedelta(seconds=i + 1),
                    total=950,
                    items=items,
                    ref=f"{i:03d}X",
                ).seq
            return seq

        return int(box.writer.run_sync(append))
    finally:
        box.close()


class CloudHarness:
    """The cloud app on a SQLite store, reached through ASGITransport."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.cloud = Cloud(store, LOG_KEY, ORIGIN)
        self.app = create_cloud_app(self.cloud, ADMIN)
        self.transport = httpx.ASGITransport(app=self.app)
        self.http = httpx.AsyncClient(transport=self.transport, base_url=CLOUD_URL)

    @classmethod
    async def open(cls, path: Path) -> CloudHarness:
        return cls(await SqliteStore.open(path))

    async def enrol(self, state: Path, name: str) -> CloudAccount:
        """Enrol the box in `state` and write its cloud.json, as `stallbox enrol` does."""
        key = load_key(state)
        token = await self.cloud.new_enrol_token()
        answer = await self.http.post(
            "/v1/enrol",
            json={"token": token, "public_key": public_key_text(key.public), "name": name},
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        account = CloudAccount(
            CLOUD_URL,
            body["device"],
            body["api_token"],
            body["log"]["origin"],
            body["log"]["verifier_key"],
        )
        save_account(state, account)
        return account

    async def key(self, origin: str) -> Ed25519PublicKey | None:
        """An origin's key as a relaying node asks for it (OriginKeys' fetch, in-process)."""
        answer = await self.http.get(f"/v1/devices/{origin}/key")
        return read_key(answer.status_code, answer.content)

    def serve_keys(self, app: Starlette) -> None:
        """Have the node of `app` ask this cloud for its neighbours' keys."""
        app.state.node.relay_keys = OriginKeys(self.key)

    async def close(self) -> None:
        await self.http.aclose()
        await self.store.close()


def node_app(state: Path, name: str) -> Starlette:
    """The node's operator-plane app for `state` (no mDNS), where the relay routes live; run its
    lifespan with `app.router.lifespan_context`."""
    config = dataclasses.replace(parse_config(sample_config("BRL")), stall_name=name)
    return Planes(config, state, port=0, operator_port=0, advertise=False).operator


def unreachable(request: httpx.Request) -> httpx.Response:
    """A transport for a host we have no route to."""
    raise httpx.ConnectError("[Errno 101] Network is unreachable", request=request)
