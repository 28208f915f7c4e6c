"""Builds receipt chains with real keys for the rule tests: a valid chain, one field changed.

`base()` is a chain that keeps every rule of docs/receipt-format.md and uses every receipt type
(start, sales, a void, a close, a rekey to a second key, a sale and a signer failure in the new
epoch, a second close). `build(specs)` signs a list of specs in order, linking each line to the
one built before it, so a test can replace one spec's field (`changed`) and only the rule about
that field breaks: seq and prev follow the changed line, signatures are made by real keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import GENESIS_PREV, Receipt, ReceiptType, build_receipt

KEY = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
NEXT = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))))
STRANGER = DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34))))
EPOCH_KEYS = {0: KEY, 1: NEXT}
T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
PASTEL = [{"name": "Pastel", "qty": 2, "sku": "pastel", "unit": 950}]
COFFEE = [{"name": "Coffee", "qty": 1, "sku": "coffee", "unit": 600}]


@dataclass(frozen=True)
class Spec:
    """One receipt to build; None fields follow the chain (next seq, prev line, epoch's key)."""

    kind: ReceiptType
    total: int
    items: Any
    ref: str = ""
    epoch: int = 0
    currency: str = "BRL"
    device: str | None = None
    key: DeviceKey | None = None
    seq: int | None = None
    prev: bytes | None = None


@dataclass(frozen=True)
class Built:
    """A signed chain: its receipts, lines and items by seq."""

    receipts: list[Receipt]

    @property
    def lines(self) -> list[str]:
        return [r.line for r in self.receipts]


def start_items(key: DeviceKey = KEY, device: str | None = None) -> dict[str, str]:
    return {"device": device or key.key_id, "pubkey": public_key_text(key.public)}


def close_items(first: int, last: int, sales: int, gross: int, voids: int, voided: int) -> Any:
    return {
        "from_seq": first, "to_seq": last, "sales": sales, "gross": gross,
        "voids": voids, "voided": voided,
    }  # fmt: skip


def base() -> list[Spec]:
    """Ten receipts that keep every rule, with every receipt type."""
    sale, void, close = ReceiptType.SALE, ReceiptType.VOID, ReceiptType.CLOSE
    return [
        Spec(ReceiptType.START, 0, start_items()),
        Spec(sale, 1900, PASTEL, "A1"),
        Spec(sale, 600, COFFEE, "A2"),
        Spec(void, 1900, PASTEL, "1"),
        Spec(sale, 600, COFFEE, "A3"),
        Spec(close, 3100, close_items(0, 4, 3, 3100, 1, 1900)),
        Spec(ReceiptType.REKEY, 0, {"epoch": 1, "pubkey": public_key_text(NEXT.public)}),
        Spec(sale, 600, COFFEE, "B1", epoch=1),
        Spec(ReceiptType.FAIL, 0, {"reason": "signer timed out"}, epoch=1),
        Spec(close, 600, close_items(6, 8, 1, 600, 0, 0), epoch=1),
    ]


def build(specs: list[Spec]) -> tuple[Built, dict[int, Any]]:
    """Sign `specs` in order; return the chain and the items by seq."""
    receipts: list[Receipt] = []
    items: dict[int, Any] = {}
    prev, seq = GENESIS_PREV, 0
    for index, spec in enumerate(specs):
        seq = spec.seq if spec.seq is not None else seq
        receipt = build_receipt(
            spec.key or EPOCH_KEYS[min(spec.epoch, 1)], device_id=spec.device or KEY.key_id,
            epoch=spec.epoch, seq=seq, at=T0 + timedelta(minutes=index), kind=spec.kind,
            currency=spec.currency, total=spec.total, items=spec.items,
            prev_hash=spec.prev if spec.prev is not None else prev, ref=spec.ref,
        )  # fmt: skip
        receipts.append(receipt)
        items[seq] = spec.items
        prev, seq = receipt.hash, seq + 1
    return Built(receipts), items


def changed(index: int, **fields: Any) -> tuple[Built, dict[int, Any]]:
    """The base chain with one spec's fields replaced, then every line signed and linked."""
    specs = base()
    specs[index] = replace(specs[index], **fields)
    return build(specs)


def keys() -> list[Any]:
    """The public keys a verifier is given: both epochs'."""
    return [KEY.public, NEXT.public]
