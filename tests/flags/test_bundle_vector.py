"""docs/flags.md "Test vector": the bundle and its arms, against the code and independently.

The key is RFC 8032 section 7.1 TEST 1's (https://www.rfc-editor.org/rfc/rfc8032#section-7.1);
murmur3_x86_32("hello", seed 0) = 0x248bfa47 is the value of Austin Appleby's reference
implementation (SMHasher, MurmurHash3.cpp), used here to check the murmur3 written below.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from appliance.flags.bundle import sign_bundle, verify_bundle
from appliance.flags.evaluate import FlagSet
from appliance.ledger.identity import parse_public_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "flags.md"
SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"  # RFC 8032 TEST 1
PUBLIC = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"  # its public key, base64url
SCOPE, WINDOW = "ana/fair-26", (1796083200, 1796169600)


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## Test vector: a bundle") :]


def _blocks() -> tuple[bytes, bytes]:
    """The section's two JSON blocks: the payload and the wire form, as bytes."""
    payload, wire = re.findall(r"```json\n(.*?)\n```", _section(), re.S)
    return payload.encode(), wire.encode()


def _arms() -> list[tuple[str, int, int, str]]:
    """The section's table rows: targeting key, murmur3, point, variant."""
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| (\d+) \| `([a-z]+)`", _section(), re.M)
    return [(key, int(h), int(p), variant) for key, h, p, variant in rows]


def _murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32, written from the reference implementation's description."""

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF

    def mix(k: int) -> int:
        return (rotl((k * 0xCC9E2D51) & 0xFFFFFFFF, 15) * 0x1B873593) & 0xFFFFFFFF

    h, body = seed, len(data) & ~3
    for i in range(0, body, 4):
        h = rotl(h ^ mix(int.from_bytes(data[i : i + 4], "little")), 13) * 5 + 0xE6546B64
        h &= 0xFFFFFFFF
    if tail := data[body:]:
        h ^= mix(int.from_bytes(tail, "little"))
    h ^= len(data)
    for shift, factor in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * factor) & 0xFFFFFFFF
    return h ^ (h >> 16)


def test_the_code_signs_the_documented_wire_form_and_takes_it() -> None:
    payload, wire = _blocks()
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SECRET))
    flags = json.loads(payload)["flags"]
    assert sign_bundle(key, "k1", SCOPE, WINDOW, flags) == wire
    bundle = verify_bundle(wire, {"k1": parse_public_key(PUBLIC)}, SCOPE, WINDOW[0] + 60)
    assert (bundle.scope, bundle.issued_at, bundle.expires_at) == (SCOPE, *WINDOW)
    size = re.search(r"The payload \((\d+) bytes", _section())
    assert size and len(payload) == int(size[1])


def test_the_documented_arms_are_the_codes() -> None:
    flags = FlagSet.from_document(json.loads(_blocks()[0])["flags"])
    arms = _arms()
    assert {variant for *_rest, variant in arms} == {"control", "pastel"}
    for key, _hash, _point, variant in arms:
        assert flags.evaluate("cart-upsell", {"targetingKey": key}, None).variant == variant


def test_an_independent_verifier_needs_only_the_section() -> None:
    """Steps 3-4 and the arms with cryptography and the murmur3 above: no appliance code."""
    payload, wire = _blocks()
    envelope = json.loads(wire)
    body = base64.urlsafe_b64decode(envelope["payload"] + "=" * (-len(envelope["payload"]) % 4))
    sig = base64.urlsafe_b64decode(envelope["sig"] + "==")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(PUBLIC + "="))
    public.verify(sig, body)  # raises InvalidSignature if the doc's wire form is wrong
    assert body == payload == rfc8785.dumps(json.loads(payload))
    assert _murmur3_32(b"") == 0 and _murmur3_32(b"hello") == 0x248BFA47
    for key, hashed, point, variant in _arms():
        assert _murmur3_32(f"cart-upsell{key}".encode()) == hashed
        assert (hashed * 100) >> 32 == point
        assert variant == ("control" if point < 50 else "pastel")
