"""The stall's figures from receipt lines (appliance/ledger/figures.py): one definition of a sale
for the box's Numbers and the cloud's dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.figures import per_live_minute, sales_figures, share
from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import GENESIS_PREV, ReceiptType, build_receipt

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
PASTEL = [{"name": "Pastel", "qty": 1, "sku": "pastel", "unit": 950}]


def lines(rows: list[tuple[ReceiptType, int, Any, str]]) -> list[str]:
    key = DeviceKey.from_private(Ed25519PrivateKey.generate())
    start = {"device": key.key_id, "pubkey": public_key_text(key.public)}
    out, prev = [], GENESIS_PREV
    for seq, (kind, total, items, ref) in enumerate([(ReceiptType.START, 0, start, ""), *rows]):
        receipt = build_receipt(
            key, device_id=key.key_id, epoch=0, seq=seq, at=T0 + timedelta(seconds=50 * seq),
            kind=kind, currency="BRL", total=total, items=items, prev_hash=prev, ref=ref,
        )  # fmt: skip
        out.append(receipt.line)
        prev = receipt.hash
    return out


def bank(credit: str) -> dict[str, str]:
    return {"state": "bank", "source": "provider:psp", "credit": credit}


def test_sales_less_voids_and_bank_confirmed_standing_sales() -> None:
    unmatched = {"state": "unmatched", "source": "provider:psp", "credit": ""}
    rows = [
        (ReceiptType.SALE, 950, PASTEL, "A1"),  # 1: banked
        (ReceiptType.SALE, 950, PASTEL, "A2"),  # 2: banked, then voided: not counted
        (ReceiptType.SALE, 950, PASTEL, "A3"),  # 3: unmatched only
        (ReceiptType.EVIDENCE, 950, bank("id:E1"), "b1"),
        (ReceiptType.EVIDENCE, 950, bank("id:E2"), "b2"),
        (ReceiptType.EVIDENCE, 0, unmatched, "u3"),
        (ReceiptType.VOID, 950, PASTEL, "2"),
    ]
    got = sales_figures(lines(rows))
    assert (got.sales, got.revenue, got.voided, got.voided_revenue) == (2, 1900, 1, 950)
    assert got.bank_confirmed == 1 and got.currency == "BRL"
    assert got.by_minute == {"2026-11-26T18:00": 950, "2026-11-26T18:02": 950}  # 50 s, 150 s
    assert share(got.bank_confirmed, got.sales) == 0.5


def test_per_live_minute_waits_for_a_whole_minute() -> None:
    assert per_live_minute(1900, 0.5) is None
    assert per_live_minute(1900, 3) == 633.33
    assert share(1, 0) is None
