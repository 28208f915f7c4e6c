"""The test vectors of docs/receipt-format.md rebuild byte for byte, and verify independently."""

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
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.chain import verify_chain
from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import (
    ReceiptType,
    build_receipt,
    canonical_items,
    parse_receipt,
    signing_input,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipt-format.md"
RFC8032_TEST1_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def vectors() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json vector\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [json.loads(block) for block in blocks]


def test_the_document_has_at_least_three_vectors() -> None:
    assert len(vectors()) >= 3


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
        device_id=vector["key_id"],
        epoch=0,
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


def test_the_vectors_form_one_chain() -> None:
    vs = vectors()
    for before, after in itertools.pairwise(vs):
        assert hashlib.sha256(before["line"].encode()).hexdigest()[:32] == after["prev_hash_hex"]
    public = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vs[0]["seed_hex"])).public_key()
    summary = verify_chain(
        [v["line"] for v in vs], public, items={v["seq"]: v["items"] for v in vs}
    )
    assert summary.count == len(vs)


def test_the_key_is_the_rfc8032_test_key() -> None:
    seed = bytes.fromhex(vectors()[0]["seed_hex"])
    raw = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    assert raw.hex() == RFC8032_TEST1_PUBLIC


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
