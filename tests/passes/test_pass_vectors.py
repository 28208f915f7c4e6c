"""The vectors of docs/passes.md, checked by an independent reader written here from the specs.

The reader uses only cbor2, cryptography, zlib and its own Base45 (RFC 9285 §4), and follows
RFC 9052 §4.4 (the Sig_structure of a COSE_Sign1), RFC 8392 (CWT claims) and docs/passes.md for
the pass's own claims and the trust rules. It shares no code with appliance.passes, so a bug in
one shows up as a disagreement.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from make_vectors import vectors

HERE = Path(__file__).parent
VECTORS = json.loads((HERE / "vectors.json").read_text())
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def b45decode(text: str) -> bytes:
    """RFC 9285 §4.2: chunks of three characters c + d·45 + e·45² are two bytes; a last pair one."""
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [B45.index(ch) for ch in text[i : i + 3]]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


def open_sign1(document: bytes, keys: dict[bytes, tuple[str, bytes]]) -> tuple[str, dict[Any, Any]]:
    """Verify a COSE_Sign1 against keys by kid; return (issuer the key belongs to, claims)."""
    tag = cbor2.loads(document)
    assert tag.tag == 18
    protected, _unprotected, payload, signature = tag.value
    header = cbor2.loads(protected)
    assert header[1] == -8  # alg EdDSA
    issuer, raw = keys[header[4]]  # KeyError = an unknown key id
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    Ed25519PublicKey.from_public_bytes(raw).verify(signature, to_be_signed)
    return issuer, dict(cbor2.loads(payload))


def kid(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()[:8]


def judge(text: str) -> str:
    """What an independent verifier says about a vector's pass."""
    creators = {
        kid(bytes.fromhex(k)): (iss, bytes.fromhex(k)) for iss, k in VECTORS["creators"].items()
    }
    signers = dict(creators)
    for hexdoc in VECTORS["delegations"]:
        iss, claims = open_sign1(bytes.fromhex(hexdoc), creators)
        assert claims[1] == iss
        signers[kid(claims[-65538][1])] = (iss, claims[-65538][1])
    revoked: set[bytes] = set()
    for hexdoc in VECTORS["revocations"]:
        _iss, claims = open_sign1(bytes.fromhex(hexdoc), creators)
        revoked.update(claims[-65539])
    assert text.startswith("SBP1:")
    document = zlib.decompress(b45decode(text[5:]))
    try:
        iss, claims = open_sign1(document, signers)
    except KeyError:
        return "undelegated"
    except InvalidSignature:
        return "bad_signature"
    if claims[1] != iss:
        return "wrong_issuer"
    now = VECTORS["now"]
    if not claims[5] <= now < claims[4]:
        return "expired" if now >= claims[4] else "not_yet_valid"
    if hashlib.sha256(claims[1].encode() + b"\0" + claims[7]).digest()[:16] in revoked:
        return "revoked"
    body = claims[-65537]
    assert body[1] and body[2]  # a holder and at least one entitlement
    return "ok"


@pytest.mark.parametrize("vector", VECTORS["passes"], ids=lambda v: v["case"])
def test_an_independent_reader_agrees_with_every_vector(vector: dict[str, str]) -> None:
    assert judge(vector["text"]) == vector["expect"]


def test_the_vectors_are_what_the_code_makes_and_what_the_docs_show() -> None:
    assert vectors() == VECTORS, (
        "regenerate: python tests/passes/make_vectors.py > tests/passes/vectors.json"
    )
    docs = (HERE.parents[1] / "docs" / "passes.md").read_text()
    for vector in VECTORS["passes"]:
        assert vector["text"] in docs, vector["case"]
    for document in VECTORS["delegations"] + VECTORS["revocations"]:
        assert document in docs
