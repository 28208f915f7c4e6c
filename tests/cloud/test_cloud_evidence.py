"""The cloud accepts payment evidence lines and answers a sale's state (both stores).

GET /v1/devices/{device}/receipts/{seq}/evidence is what the /v page shows under "Bank
evidence": a sale's last evidence line decides (docs/receipt-format.md "Payment evidence").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cloudfix import (
    T0,
    Chain,
    CloudClient,
    StoreOpener,
    open_store,
    run_with_cloud,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pgserver import pg_server

from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import GENESIS_PREV, ReceiptType, build_receipt, canonical_items

__all__ = ["open_store", "pg_server"]  # fixtures, used by name

CANE = [{"name": "Caldo", "qty": 1, "sku": "cane", "unit": 11}]
PASTEL = [{"name": "Pastel", "qty": 2, "sku": "pastel", "unit": 950}]
SOURCE = "sha256:" + "ab" * 32


def evidence(state: str, credit: str = "") -> dict[str, str]:
    return {"state": state, "source": SOURCE, "credit": credit}


def evidence_chain() -> Chain:
    """start; sale 1 (19.00); sale 2 (0.11); u1; b1; b2 (its total 11 puts ";11;" on the line)."""
    key = DeviceKey.from_private(Ed25519PrivateKey.generate())
    rows: list[tuple[ReceiptType, int, Any, str]] = [
        (ReceiptType.START, 0, {"device": key.key_id, "pubkey": public_key_text(key.public)}, ""),
        (ReceiptType.SALE, 1900, PASTEL, "A1"),
        (ReceiptType.SALE, 11, CANE, "A2"),
        (ReceiptType.EVIDENCE, 0, evidence("unmatched"), "u1"),
        (ReceiptType.EVIDENCE, 1900, evidence("bank", "id:E1"), "b1"),
        (ReceiptType.EVIDENCE, 11, evidence("bank", "id:E2"), "b2"),
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


def test_evidence_is_ingested_and_a_sale_shows_its_last_state(open_store: StoreOpener) -> None:
    chain = evidence_chain()

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)

        async def state(seq: int) -> Any:
            answer = await client.http.get(f"/v1/devices/{chain.device}/receipts/{seq}/evidence")
            return answer.json() if answer.status_code == 200 else answer.status_code

        assert (await client.post(chain, token, chain.batch(0, 3))).status_code == 200
        assert (await state(1))["state"] == "unmatched"
        assert await state(2) == {
            "device": chain.device, "seq": 2, "state": "unverified", "evidence_seq": None
        }  # fmt: skip
        assert (await client.post(chain, token, chain.batch(4, 5))).status_code == 200
        assert await state(1) == {
            "device": chain.device, "seq": 1, "state": "bank", "evidence_seq": 4
        }  # fmt: skip
        assert (await state(2))["evidence_seq"] == 5
        assert await state(0) == 404  # the start receipt is no sale
        assert await state(3) == 404  # nor is an evidence line
        assert await state(9) == 404  # nor a receipt the cloud does not hold

    run_with_cloud(open_store, scenario)
