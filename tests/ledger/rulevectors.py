"""The receipt test vectors of docs/receipt-format.md, built with the reference implementation.

`generate()` returns what tests/ledger/vectors/receipts.json holds: the valid chain (Vectors 1
to 6) and one chain per rule that breaks it. The keys are the RFC 8032 §7.1 test keys (TEST 1,
TEST 2, TEST 3: https://www.rfc-editor.org/rfc/rfc8032#section-7.1), so anyone can check them.
Regenerate the file with `python tests/ledger/rulevectors.py > tests/ledger/vectors/receipts.json`
and paste the changed blocks into the document; tests/ledger/test_vectors.py fails until both
agree with what this module builds.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import (
    GENESIS_PREV,
    ReceiptType,
    b64,
    build_receipt,
    canonical_items,
    line_hash,
    signing_input,
)

SEEDS = {  # RFC 8032 §7.1: TEST 1, TEST 2, TEST 3
    "test1": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "test2": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "test3": "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
}
RFC_PUBLIC = {
    "test1": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "test2": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "test3": "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
}
KEYS = {
    name: DeviceKey.from_private(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))
    for name, seed in SEEDS.items()
}
DEVICE = KEYS["test1"].key_id
CANE = {"name": "Caldo de cana", "qty": 1, "sku": "cane", "unit": 1800}
PASTEL = {"name": "Pastel de queijo", "qty": 2, "sku": "pastel", "unit": 950}
CLOSE = {"from_seq": 0, "to_seq": 2, "sales": 1, "gross": 3700, "voids": 1, "voided": 3700}
# Payment evidence (Vectors 7 and 8): the statement of 2026-11-21 shows no credit for sale 5, the
# one of 2026-11-22 does. `source` is "sha256:" and the hex SHA-256 of the statement file (here
# of the ASCII text "statement 2026-11-21" and "statement 2026-11-22"); `credit` is the credit's
# stable key, "id:" and the bank's transaction id, here a Pix end-to-end id in the BCB format
# (E, the payer's ISPB, yyyyMMddHHmm, 11 characters; ISPB 18236120 is Nu Pagamentos').
STATEMENTS = {day: "sha256:" + hashlib.sha256(f"statement {day}".encode()).hexdigest()
              for day in ("2026-11-21", "2026-11-22")}  # fmt: skip
UNMATCHED = {"state": "unmatched", "source": STATEMENTS["2026-11-21"], "credit": ""}
BANK = {
    "state": "bank",
    "source": STATEMENTS["2026-11-22"],
    "credit": "id:E18236120202611210916s0a1b2c3d4e",
}

# The valid chain: seq, time, type, total, ref, items, signing key, epoch.
CHAIN: list[tuple[int, str, str, int, str, Any, str, int]] = [
    (0, "20261120T180000Z", "start", 0, "",
     {"device": DEVICE, "pubkey": public_key_text(KEYS["test1"].public)}, "test1", 0),
    (1, "20261120T184207Z", "sale", 3700, "1D", [CANE, PASTEL], "test1", 0),
    (2, "20261120T184530Z", "void", 3700, "1", [CANE, PASTEL], "test1", 0),
    (3, "20261120T235959Z", "close", 3700, "", CLOSE, "test1", 0),
    (4, "20261121T090000Z", "rekey", 0, "",
     {"epoch": 1, "pubkey": public_key_text(KEYS["test2"].public)}, "test1", 0),
    (5, "20261121T091500Z", "sale", 1800, "2A", [CANE], "test2", 1),
    (6, "20261122T080000Z", "evidence", 0, "u5", UNMATCHED, "test2", 1),
    (7, "20261123T080000Z", "evidence", 1800, "b5", BANK, "test2", 1),
]  # fmt: skip


def vector(
    seq: int, time: str, kind: str, total: int, ref: str, items: Any, key: str, epoch: int,
    prev: bytes, *, device: str = DEVICE, currency: str = "BRL",
) -> dict[str, Any]:  # fmt: skip
    """One signed receipt with every intermediate value a hand check needs."""
    signer = KEYS[key]
    canonical = canonical_items(items)
    receipt = build_receipt(
        signer, device_id=device, epoch=epoch, seq=seq,
        at=datetime.strptime(time + "+0000", "%Y%m%dT%H%M%SZ%z"), kind=ReceiptType(kind),
        currency=currency, total=total, items=canonical, prev_hash=prev, ref=ref,
    )  # fmt: skip
    return {
        "seed_hex": SEEDS[key],
        "public_key": public_key_text(signer.public),
        "key_id": signer.key_id,
        "device": device,
        "epoch": epoch,
        "seq": seq,
        "time": time,
        "type": kind,
        "currency": currency,
        "total": total,
        "ref": ref,
        "items": items,
        "items_canonical": canonical.decode("utf-8"),
        "items_hash_hex": hashlib.sha256(canonical).hexdigest()[:32],
        "prev_hash_hex": prev.hex(),
        "signing_input": signing_input(receipt.body).decode("ascii"),
        "line": receipt.line,
    }


def chain() -> list[dict[str, Any]]:
    """Vectors 1 to 8: one valid chain through a key rotation and payment evidence."""
    out: list[dict[str, Any]] = []
    prev = GENESIS_PREV
    for row in CHAIN:
        out.append(vector(*row, prev))
        prev = line_hash(out[-1]["line"])
    return out


def _broken(
    name: str, after: int, rule: int, seq: int, appended: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "after": after,
        "lines": [v["line"] for v in appended],
        "items_canonical": [v["items_canonical"] for v in appended],
        "public_keys": [public_key_text(KEYS[k].public) for k in ("test1", "test2")],
        "head": extra.get("head"),
        "broken_at": {"seq": seq, "rule": rule},
    }


def rules() -> list[dict[str, Any]]:
    """One chain per rule: the first `after` lines of the valid chain, then `lines`."""
    valid = chain()
    link = [GENESIS_PREV, *(line_hash(v["line"]) for v in valid)]
    t = "20261121T100000Z"
    sale = (1, t, "sale", 3700, "1D", [CANE, PASTEL], "test1", 0, link[1])
    non_ascii = dict(valid[1], line=valid[1]["line"].replace(";1D;", ";1\u00c9;"))
    foreign = vector(*sale)
    body = foreign["line"].rsplit(";", 1)[0]
    forged = dict(foreign, line=f"{body};{b64(KEYS['test3'].sign(signing_input(body)))}")
    rekey2 = {"epoch": 2, "pubkey": public_key_text(KEYS["test2"].public)}
    close_x = dict(CLOSE, gross=3600)
    same_total = [{"name": "Caldo de cana", "qty": 2, "sku": "cane", "unit": 1850}]
    short = [dict(PASTEL, qty=3), dict(CANE, unit=750)]
    return [
        _broken("a non-ASCII character in the ref", 1, 1, 1, [non_ascii]),
        _broken("seq 2 where 1 is due", 1, 2, 1, [vector(2, t, "sale", 3700, "1D",
                [CANE, PASTEL], "test1", 0, link[1])]),
        _broken("another device id after the rekey", 5, 3, 5, [vector(*CHAIN[5], link[5],
                device="aaaaaaaaaa")]),
        _broken("epoch 1 claimed, signed with the epoch-0 key", 1, 4, 1,
                [vector(1, t, "sale", 3700, "1D", [CANE, PASTEL], "test1", 1, link[1])]),
        _broken("device aaaaaaaaaa, not the first key's id", 0, 5, 0,
                [vector(0, t, "start", 0, "", {"device": "aaaaaaaaaa", "pubkey":
                 public_key_text(KEYS["test1"].public)}, "test1", 0, link[0],
                 device="aaaaaaaaaa")]),
        _broken("the epoch-0 key after the rekey", 5, 5, 5,
                [vector(5, t, "sale", 1800, "2A", [CANE], "test1", 1, link[5])]),
        _broken("signed by another key under this key id", 1, 6, 1, [forged]),
        _broken("prev is not the previous line's hash", 1, 7, 1,
                [vector(1, t, "sale", 3700, "1D", [CANE, PASTEL], "test1", 0, GENESIS_PREV)]),
        _broken("a second start receipt", 1, 8, 1, [vector(1, t, "start", 0, "",
                CHAIN[0][5], "test1", 0, link[1])]),
        _broken("the currency changes", 1, 9, 1, [vector(*sale, currency="EUR")]),
        _broken("a start receipt with a total", 0, 10, 0, [vector(0, t, "start", 100, "",
                CHAIN[0][5], "test1", 0, link[0])]),
        _broken("a close with a ref", 3, 10, 3, [vector(3, t, "close", 3700, "X", CLOSE,
                "test1", 0, link[3])]),
        _broken("unmatched evidence with a total", 6, 10, 6,
                [vector(6, t, "evidence", 1800, "u5", UNMATCHED, "test2", 1, link[6])]),
        _broken("a void with the sale's total but other items", 2, 11, 2,
                [vector(2, t, "void", 3700, "1", same_total, "test1", 0, link[2])]),
        _broken("bank evidence for the voided sale", 6, 11, 6,
                [vector(6, t, "evidence", 3700, "b1", BANK, "test2", 1, link[6])]),
        _broken("unmatched after bank evidence", 8, 11, 8,
                [vector(8, t, "evidence", 0, "u5", UNMATCHED, "test2", 1, link[8])]),
        _broken("a close whose total is not the gross", 3, 12, 3,
                [vector(3, t, "close", 3600, "", close_x, "test1", 0, link[3])]),
        _broken("sale items that add up to 3600", 1, 13, 1,
                [vector(1, t, "sale", 3700, "1D", short, "test1", 0, link[1])]),
        _broken("a rekey naming epoch 2", 4, 13, 4,
                [vector(4, t, "rekey", 0, "", rekey2, "test1", 0, link[4])]),
        _broken("bank evidence whose items say unmatched", 6, 13, 6,
                [vector(6, t, "evidence", 1800, "b5", UNMATCHED, "test2", 1, link[6])]),
        _broken("a tail cut after seq 2", 3, 14, 3, [],
                head=f"5:{b64(link[6])}"),
    ]  # fmt: skip


def generate() -> dict[str, Any]:
    """Everything tests/ledger/vectors/receipts.json holds."""
    return {
        "source": "docs/receipt-format.md; keys: RFC 8032 section 7.1 TEST 1, 2 and 3",
        "chain": chain(),
        "rules": rules(),
    }


if __name__ == "__main__":
    print(json.dumps(generate(), indent=2, ensure_ascii=True))
