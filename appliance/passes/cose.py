"""COSE_Sign1 with EdDSA (RFC 9052 §4.2, RFC 9053 §2.2), the envelope of every pass document.

Only what passes use: one signer, the algorithm and the key id in the protected header, no
external data. Parsing is strict: anything else is `malformed`, never guessed at.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.passes.errors import PassRefused, Reason

SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_KID = 4
ALG_EDDSA = -8
KID_BYTES = 8


def raw_public(public: Ed25519PublicKey) -> bytes:
    """Return the 32 raw bytes of an Ed25519 public key."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kid_of(public: Ed25519PublicKey) -> bytes:
    """Return a key's COSE key id: the first 8 bytes of SHA-256 of its raw public key."""
    return hashlib.sha256(raw_public(public)).digest()[:KID_BYTES]


def _to_be_signed(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign1(payload: bytes, key: Ed25519PrivateKey) -> bytes:
    """Return the tagged COSE_Sign1 of `payload`, signed by `key`, its kid in the protected header."""
    protected = cbor2.dumps(
        {HEADER_ALG: ALG_EDDSA, HEADER_KID: kid_of(key.public_key())}, canonical=True
    )
    signature = key.sign(_to_be_signed(protected, payload))
    return cbor2.dumps(cbor2.CBORTag(SIGN1_TAG, [protected, {}, payload, signature]))


@dataclass(frozen=True, slots=True)
class Sign1:
    """A parsed, not yet verified COSE_Sign1."""

    protected: bytes
    kid: bytes
    payload: bytes
    signature: bytes

    def verify(self, public: Ed25519PublicKey) -> None:
        """Raise PassRefused(bad_signature) unless `public` signed this message."""
        try:
            public.verify(self.signature, _to_be_signed(self.protected, self.payload))
        except InvalidSignature:
            raise PassRefused(Reason.BAD_SIGNATURE, "the signature does not verify") from None


def loads(data: bytes, what: str) -> Any:
    """Decode CBOR from a pass document; raise PassRefused(malformed) naming `what` if it is not."""
    try:
        return cbor2.loads(data)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise PassRefused(Reason.MALFORMED, f"{what} is not CBOR ({type(exc).__name__})") from None


def _malformed(detail: str) -> PassRefused:
    return PassRefused(Reason.MALFORMED, detail)


def parse_sign1(data: bytes) -> Sign1:
    """Parse a (tagged or untagged) COSE_Sign1 with EdDSA and a key id; raise PassRefused if not."""
    message = loads(data, "the document")
    if isinstance(message, cbor2.CBORTag):
        if message.tag != SIGN1_TAG:
            raise _malformed(f"CBOR tag {message.tag} is not COSE_Sign1 (18)")
        message = message.value
    if not isinstance(message, list | tuple) or len(message) != 4:
        raise _malformed("COSE_Sign1 is an array of four")
    protected, _unprotected, payload, signature = message
    if not all(isinstance(part, bytes) for part in (protected, payload, signature)):
        raise _malformed("COSE_Sign1's protected header, payload and signature are byte strings")
    header = loads(protected, "the protected header")
    if not isinstance(header, Mapping) or header.get(HEADER_ALG) != ALG_EDDSA:
        raise _malformed("the protected header must name alg EdDSA (-8)")
    kid = header.get(HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise _malformed(f"the protected header must carry an {KID_BYTES}-byte kid")
    if len(signature) != 64:
        raise _malformed("an EdDSA signature is 64 bytes")
    return Sign1(protected, kid, payload, signature)
