"""Fixtures and builders for the cloud tests: real receipt chains, both stores, an app client.

Test modules import what they use by name (fixtures included): a second conftest.py would clash
with tests/services/conftest.py, as test dirs have no __init__.py. The PostgreSQL server comes
from tests/e2e/pgserver.py.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import (
    GENESIS_PREV,
    Receipt,
    ReceiptType,
    build_receipt,
    canonical_items,
)
from appliance.ledger.wire import VERSION, Batch, WireReceipt
from sync.cloud.app import create_app
from sync.cloud.service import Cloud
from sync.cloud.store import CloudStore

sys.path.append(str(Path(__file__).resolve().parents[1] / "e2e"))
from pgserver import new_database

T = TypeVar("T")
T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
ITEMS = [
    {"name": "Caldo de cana", "qty": 1, "sku": "cane", "unit": 1800},
    {"name": "Pastel de queijo", "qty": 2, "sku": "pastel", "unit": 950},
]


@dataclass
class Chain:
    """A device's key and its receipts, built with the ledger's own code."""

    key: DeviceKey
    receipts: list[Receipt]
    items: list[str]

    @property
    def device(self) -> str:
        return self.key.key_id

    def wire(self, first: int, last: int) -> list[WireReceipt]:
        return [
            WireReceipt(s, self.receipts[s].line, self.items[s]) for s in range(first, last + 1)
        ]

    def batch(self, first: int, last: int, known_size: int = 0) -> Batch:
        prev = GENESIS_PREV if first == 0 else self.receipts[first - 1].hash
        from appliance.ledger.receipt import b64

        return Batch(VERSION, first, b64(prev), self.wire(first, last), known_size)


def make_chain(count: int, key: DeviceKey | None = None) -> Chain:
    """Return a chain of `count` receipts: the start receipt, then sales (every 7th a void)."""
    key = key or DeviceKey.from_private(Ed25519PrivateKey.generate())
    start_items = canonical_items({"device": key.key_id, "pubkey": public_key_text(key.public)})
    sale_items = canonical_items(ITEMS)
    receipts: list[Receipt] = []
    items: list[str] = []
    prev = GENESIS_PREV
    for seq in range(count):
        at = T0 + timedelta(seconds=seq)
        if seq == 0:
            kind, total, canon, ref = ReceiptType.START, 0, start_items, ""
        elif seq % 7 == 0:
            kind, total, canon, ref = ReceiptType.VOID, 3700, sale_items, str(seq - 1)
        else:
            kind, total, canon, ref = ReceiptType.SALE, 3700, sale_items, f"R{seq}"
        receipt = build_receipt(
            key, device_id=key.key_id, epoch=0, seq=seq, at=at, kind=kind, currency="BRL",
            total=total, items=canon, prev_hash=prev, ref=ref,
        )  # fmt: skip
        receipts.append(receipt)
        items.append(canon.decode())
        prev = receipt.hash
    return Chain(key, receipts, items)


CANE = [{"name": "Caldo", "qty": 1, "sku": "cane", "unit": 11}]
PASTEL = [{"name": "Pastel", "qty": 2, "sku": "pastel", "unit": 950}]
SOURCE = "sha256:" + "ab" * 32


def evidence_items(state: str, credit: str = "") -> dict[str, str]:
    return {"state": state, "source": SOURCE, "credit": credit}


def evidence_chain() -> Chain:
    """start; sale 1 (19.00); sale 2 (0.11); u1; b1; b2 (its total 11 puts ";11;" on the line)."""
    key = DeviceKey.from_private(Ed25519PrivateKey.generate())
    rows: list[tuple[ReceiptType, int, Any, str]] = [
        (ReceiptType.START, 0, {"device": key.key_id, "pubkey": public_key_text(key.public)}, ""),
        (ReceiptType.SALE, 1900, PASTEL, "A1"),
        (ReceiptType.SALE, 11, CANE, "A2"),
        (ReceiptType.EVIDENCE, 0, evidence_items("unmatched"), "u1"),
        (ReceiptType.EVIDENCE, 1900, evidence_items("bank", "id:E1"), "b1"),
        (ReceiptType.EVIDENCE, 11, evidence_items("bank", "id:E2"), "b2"),
    ]
    receipts, items, prev = [], [], GENESIS_PREV
    for seq, (kind, total, content, ref) in enumerate(rows):
        canon = canonical_items(content)
        receipt = build_receipt(
            key, device_id=key.key_id, epoch=0, seq=seq, at=T0 + timedelta(minutes=seq),
            kind=kind, currency="BRL", total=total, items=canon, prev_hash=prev, ref=ref,
        )  # fmt: skip
        receipts.append(receipt)
        items.append(canon.decode())
        prev = receipt.hash
    return Chain(key, receipts, items)


# --- stores and apps ------------------------------------------------------------------------


StoreOpener = Callable[[], Awaitable[CloudStore]]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreOpener:
    """Opens a store of the parametrized kind, on fresh storage (each call: the same storage)."""
    if request.param == "sqlite":
        from sync.cloud.sqlite_store import SqliteStore

        path = tmp_path / "cloud.db"

        async def sqlite() -> CloudStore:
            return await SqliteStore.open(path)

        return sqlite
    from sync.cloud.postgres_store import PostgresStore

    dsn = new_database(request.getfixturevalue("pg_server"))

    async def postgres() -> CloudStore:
        return await PostgresStore.open(dsn, size=2)

    return postgres


LOG_KEY = Ed25519PrivateKey.generate()
ORIGIN = "stallbox.cloud/test"
ADMIN = "admin-token-for-tests-0123456789"


class CloudClient:
    """An app over a store, and an httpx client on it through ASGITransport."""

    def __init__(self, store: CloudStore) -> None:
        self.store = store
        self.cloud = Cloud(store, LOG_KEY, ORIGIN)
        self.app = create_app(self.cloud, ADMIN)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://cloud"
        )

    async def enrol(self, chain: Chain, name: str = "box") -> str:
        """Enrol the chain's key with a fresh one-time token; return its API token."""
        token = await self.cloud.new_enrol_token()
        answer = await self.http.post(
            "/v1/enrol",
            json={"token": token, "public_key": public_key_text(chain.key.public), "name": name},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["device"] == chain.device
        return str(answer.json()["api_token"])

    async def post(self, chain: Chain, token: str, batch: Batch) -> httpx.Response:
        from appliance.ledger.wire import encode

        return await self.http.post(
            f"/v1/devices/{chain.device}/receipts",
            content=encode(batch),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.store.close()


def run_with_cloud(open_store: StoreOpener, scenario: Callable[[CloudClient], Awaitable[T]]) -> T:
    """Run `scenario` against a fresh cloud app in a new event loop, then close everything."""

    async def main() -> T:
        client = CloudClient(await open_store())
        try:
            return await scenario(client)
        finally:
            await client.close()

    return asyncio.run(main())
