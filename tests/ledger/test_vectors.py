"""The test vectors of docs/receipt-format.md: the same as the vectors file, rebuilt byte for byte.

The chain (Vectors 1 to 8) verifies; each rule vector breaks its rule at its seq; one signature
is checked with `openssl` too. test_vectors_independent.py checks them without appliance.ledger.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rulevectors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.chain import ChainHead, parse_head, verify_chain
from appliance.ledger.errors import ChainBroken
from appliance.ledger.identity import DeviceKey, parse_public_key, public_key_text
from appliance.ledger.receipt import (
    ReceiptType,
    build_receipt,
    canonical_items,
    line_hash,
    parse_receipt,
    signing_input,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipt-format.md"
FILE = Path(__file__).resolve().parent / "vectors" / "receipts.json"


def blocks(kind: str) -> list[dict[str, Any]]:
    """The JSON blocks of the document fenced as ```json <kind>."""
    found = re.findall(rf"```json {kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [json.loads(block) for block in found]


def vectors() -> list[dict[str, Any]]:
    return blocks("vector")


def stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FILE.read_text(encoding="ascii"))
    return data


def test_the_document_the_file_and_the_code_agree() -> None:
    """The document's vectors are the file's, and the reference code rebuilds the file."""
    data = stored()
    assert vectors() == data["chain"]
    assert blocks("rule-vector") == data["rules"]
    assert data == rulevectors.generate()
    assert len(data["chain"]) >= 6
    assert {v["broken_at"]["rule"] for v in data["rules"]} == set(range(1, 15))


@pytest.mark.parametrize("vector", vectors(), ids=lambda v: f"seq{v['seq']}-{v['type']}")
def test_vector_rebuilds_exactly(vector: dict[str, Any]) -> None:
    key = DeviceKey.from_private(
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["seed_hex"]))
    )
    assert public_key_text(key.public) == vector["public_key"]
    assert key.key_id == vector["key_id"]
    canonical = canonical_items(vector["items"])
    assert canonical.decode("utf-8") == vector["items_canonical"]
    assert hashlib.sha256(canonical).hexdigest()[:32] == vector["items_hash_hex"]
    receipt = build_receipt(
        key,
        device_id=vector["device"],
        epoch=vector["epoch"],
        seq=vector["seq"],
        at=datetime.strptime(vector["time"] + "+0000", "%Y%m%dT%H%M%SZ%z"),
        kind=ReceiptType(vector["type"]),
        currency=vector["currency"],
        total=vector["total"],
        items=vector["items"],
        prev_hash=bytes.fromhex(vector["prev_hash_hex"]),
        ref=vector["ref"],
    )
    assert receipt.line == vector["line"]
    assert signing_input(receipt.body).decode("ascii") == vector["signing_input"]


def _keys(texts: list[str]) -> list[Any]:
    return [parse_public_key(text) for text in texts]


def test_the_vectors_form_one_chain() -> None:
    vs = vectors()
    for before, after in itertools.pairwise(vs):
        assert hashlib.sha256(before["line"].encode()).hexdigest()[:32] == after["prev_hash_hex"]
    keys = _keys(stored()["rules"][0]["public_keys"])
    head = ChainHead(len(vs), line_hash(vs[-1]["line"]))
    summary = verify_chain(
        [v["line"] for v in vs], keys, items={v["seq"]: v["items"] for v in vs}, known_head=head
    )
    assert summary.count == len(vs)


@pytest.mark.parametrize("case", stored()["rules"], ids=lambda v: v["name"])
def test_each_rule_vector_breaks_its_rule(case: dict[str, Any]) -> None:
    chain = vectors()[: case["after"]]
    lines = [v["line"] for v in chain] + case["lines"]
    items = {v["seq"]: v["items"] for v in chain}
    for line, canonical in zip(case["lines"], case["items_canonical"], strict=True):
        items[int(line.split(";")[4])] = json.loads(canonical)
    head = parse_head(case["head"]) if case["head"] else None
    with pytest.raises(ChainBroken) as caught:
        verify_chain(lines, _keys(case["public_keys"]), items=items, known_head=head)
    assert {"seq": caught.value.seq, "rule": caught.value.rule} == case["broken_at"]


@pytest.mark.parametrize("name", sorted(rulevectors.SEEDS))
def test_the_keys_are_the_rfc8032_test_keys(name: str) -> None:
    raw = (
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(rulevectors.SEEDS[name]))
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    assert raw.hex() == rulevectors.RFC_PUBLIC[name]
    assert vectors()[0]["seed_hex"] == rulevectors.SEEDS["test1"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_verifies_a_vector_signature(tmp_path: Path) -> None:
    """An implementation nobody here wrote agrees on the signing input and the signature."""
    vector = vectors()[1]
    receipt = parse_receipt(vector["line"])
    public = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["seed_hex"])).public_key()
    (tmp_path / "pub.pem").write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "msg").write_bytes(vector["signing_input"].encode("ascii"))
    (tmp_path / "sig").write_bytes(receipt.signature)
    run = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin",
         "-in", "msg", "-sigfile", "sig"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    (tmp_path / "msg").write_bytes(vector["signing_input"].encode("ascii") + b"x")
    bad = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin",
         "-in", "msg", "-sigfile", "sig"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode != 0
