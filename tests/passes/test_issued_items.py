"""A pass issued by a sale, as an item of the sale: docs/receipt-format.md's "Passes issued in a
sale's items" vector, checked with hashlib and json over the texts printed in the docs (the pass
is docs/passes.md's "signed by a delegated box" vector; its id read with zlib, cbor2 and the
Base45 alphabet of RFC 9285 §4 written out here, not with Stallbox's decoder)."""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from pathlib import Path

import cbor2

from appliance.ledger.rules import items_total
from appliance.services.pass_sales import issued_item
from appliance.store.pass_sales import IssuedPass

DOCS = Path(__file__).resolve().parents[2] / "docs"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"  # RFC 9285 §4, Table 1


def base45(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [ALPHABET.index(c) for c in text[i : i + 3]]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


def test_the_documented_issued_pass_item() -> None:
    passes = (DOCS / "passes.md").read_text()
    section = passes[passes.index("**signed by a delegated box**") :]
    text = re.search(r"```\n(SBP1:[^\n]*)\n```", section)
    assert text is not None
    sign1 = cbor2.loads(zlib.decompress(base45(text[1][5:])))
    pass_id = cbor2.loads(sign1.value[2])[7].hex()
    receipts = (DOCS / "receipt-format.md").read_text()
    vector = receipts[receipts.index("### Passes issued in a sale's items") :]
    canonical = re.search(r"```\n(\[.*\])\n```", vector)
    digest = re.search(r"items hash \(hex[^`]*`([0-9a-f]{32})`", vector)
    assert canonical is not None and digest is not None
    items = json.loads(canonical[1])
    assert items[1] == issued_item(
        IssuedPass("o", 0, "fanpass", pass_id, "Fan 2", text[1], "2026-01-01T00:00:00+00:00")
    )
    assert items[1]["digest"] == hashlib.sha256(text[1].encode()).hexdigest()[:32]
    assert hashlib.sha256(canonical[1].encode()).hexdigest()[:32] == digest[1]
    assert items_total(items) == 3000  # rule 13: the issued pass adds nothing to the total
    assert json.dumps(items, separators=(",", ":"), sort_keys=True) == canonical[1]
