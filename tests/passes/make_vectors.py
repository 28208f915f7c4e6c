"""Build the pass vectors of docs/passes.md from fixed seeds: `python tests/passes/make_vectors.py`.

Ed25519 signatures are deterministic (RFC 8032), so the same seeds give the same bytes on every
machine; tests/passes/test_pass_vectors.py checks that vectors.json and the docs still equal this.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.passes.cose import raw_public, sign1
from appliance.passes.model import Entitlement, Kind, Pass, Period
from appliance.passes.trust import delegate, encode_pass, issue_pass, revocation_id, revocation_list

NOW = 1_790_000_000  # 2026-09-21T13:33:20Z, the time every vector is checked at
YEAR = (1_767_225_600, 1_798_761_600)  # 2026-01-01 .. 2027-01-01


def key(name: str) -> Ed25519PrivateKey:
    """Return the vector key whose seed is SHA-256 of `name`."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"stallbox pass vector {name}".encode()).digest()
    )


def card(
    pass_no: int, issuer: str, *, until: int = YEAR[1], grants: tuple[Entitlement, ...] = ()
) -> Pass:
    """Return pass number `pass_no` of the vectors."""
    return Pass(
        pass_id=hashlib.sha256(f"pass {pass_no}".encode()).hexdigest()[:32],
        issuer=issuer,
        holder=f"Fan {pass_no}",
        valid_from=YEAR[0],
        valid_until=until,
        issued_at=YEAR[0],
        entitlements=grants or (Entitlement(Kind.PERCENT_OFF, 10, ("pastel",)),),
        signed_by="",
    )


def vectors() -> dict[str, Any]:
    """Return the whole vector set: trust documents, then passes with their expected outcome."""
    ana, bo, box, stray = key("creator ana"), key("creator bo"), key("box 1"), key("box 2")
    rich = (
        Entitlement(Kind.PERCENT_OFF, 10, ("pastel", "caldo")),
        Entitlement(Kind.AMOUNT_OFF, 500, ("combo",), currency="BRL"),
        Entitlement(Kind.EARLY_ACCESS, 30),
        Entitlement(Kind.ALLOWANCE, 1, ("caldo",), period=Period.DAY),
    )
    revoked = card(5, "creator:ana")
    signed = bytearray(sign1(cbor2.dumps(card(3, "creator:ana").claims(), canonical=True), ana))
    signed[-1] ^= 0x01  # the last byte of the signature
    passes = [
        (
            "creator-signed, every kind of entitlement",
            issue_pass(ana, card(1, "creator:ana", grants=rich)),
            "ok",
        ),
        ("signed by a delegated box", issue_pass(box, card(2, "creator:ana")), "ok"),
        ("one bit of the signature flipped", encode_pass(bytes(signed)), "bad_signature"),
        ("expired", issue_pass(ana, card(4, "creator:ana", until=NOW - 1)), "expired"),
        ("revoked", issue_pass(ana, revoked), "revoked"),
        ("ana's key, bo's name", issue_pass(ana, card(6, "creator:bo")), "wrong_issuer"),
        ("a box key without delegation", issue_pass(stray, card(7, "creator:ana")), "undelegated"),
    ]
    return {
        "now": NOW,
        "creators": {
            "creator:ana": raw_public(ana.public_key()).hex(),
            "creator:bo": raw_public(bo.public_key()).hex(),
        },
        "delegations": [delegate(ana, "creator:ana", box.public_key(), "box 1", YEAR).hex()],
        "revocations": [
            revocation_list(
                ana, "creator:ana", [revocation_id("creator:ana", revoked.pass_id)], YEAR[0]
            ).hex()
        ],
        "passes": [{"case": case, "text": text, "expect": expect} for case, text, expect in passes],
    }


if __name__ == "__main__":
    json.dump(vectors(), sys.stdout, indent=1)
    sys.stdout.write("\n")
