"""Issuing and verifying passes against a creator's keys, delegations and revocation list.

A creator key signs passes itself, delegates to box keys (a delegation is a COSE_Sign1 by the
creator over the box's public key and a validity window) and signs revocation lists. A verifier
holds a `TrustStore` built from those documents and needs nothing else: no network, no clock
but the `now` it is given.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.passes import base45
from appliance.passes.cose import Sign1, kid_of, loads, parse_sign1, raw_public, sign1
from appliance.passes.errors import Base45Error, PassRefused, Reason
from appliance.passes.model import (
    CLAIM_DELEGATE,
    CLAIM_EXP,
    CLAIM_IAT,
    CLAIM_ISS,
    CLAIM_NBF,
    CLAIM_REVOKED,
    Pass,
    pass_from,
)
from appliance.passes.text import MAX_TEXT

PREFIX = "SBP1:"
MAX_CBOR = 4096  # bytes after decompression: a zip bomb stops here


def revocation_id(issuer: str, pass_id: str) -> bytes:
    """Return the 16-byte id a revocation list names a pass by: SHA-256(iss 0x00 cti)[:16]."""
    return hashlib.sha256(issuer.encode() + b"\0" + bytes.fromhex(pass_id)).digest()[:16]


def encode_pass(document: bytes) -> str:
    """Return a signed pass document as QR text: the prefix, then Base45 of zlib of the CBOR."""
    return PREFIX + base45.encode(zlib.compress(document, 9))


def issue_pass(key: Ed25519PrivateKey, card: Pass) -> str:
    """Sign `card`'s claims with `key` (the creator's or a delegated box's); return its QR text."""
    return encode_pass(sign1(cbor2.dumps(card.claims(), canonical=True), key))


def delegate(
    creator: Ed25519PrivateKey,
    issuer: str,
    box: Ed25519PublicKey,
    label: str,
    window: tuple[int, int],
) -> bytes:
    """Return the creator's delegation letting `box` issue passes for `issuer` within `window`."""
    claims = {
        CLAIM_ISS: issuer,
        CLAIM_NBF: window[0],
        CLAIM_EXP: window[1],
        CLAIM_DELEGATE: {1: raw_public(box), 2: label},
    }
    return sign1(cbor2.dumps(claims, canonical=True), creator)


def revocation_list(
    creator: Ed25519PrivateKey, issuer: str, revoked: Iterable[bytes], issued_at: int
) -> bytes:
    """Return the creator's signed list of revoked pass ids (see `revocation_id`)."""
    claims = {CLAIM_ISS: issuer, CLAIM_IAT: issued_at, CLAIM_REVOKED: sorted(revoked)}
    return sign1(cbor2.dumps(claims, canonical=True), creator)


@dataclass(frozen=True, slots=True)
class Signer:
    """A key trusted to sign passes for one issuer, within a window (the creator's is unbounded)."""

    issuer: str
    public: Ed25519PublicKey
    valid_from: int = 0
    valid_until: int = 2**62


def _claims(message: Sign1) -> Mapping[Any, Any]:
    claims = loads(message.payload, "the payload")
    if not isinstance(claims, Mapping):
        raise PassRefused(Reason.MALFORMED, "the payload is not a claims map")
    return claims


class TrustStore:
    """What a verifier trusts: creator keys, their delegations and their revocation lists."""

    def __init__(self, creators: Mapping[str, Ed25519PublicKey]) -> None:
        self._signers: dict[bytes, Signer] = {
            kid_of(k): Signer(iss, k) for iss, k in creators.items()
        }
        self._creators = {kid_of(k): iss for iss, k in creators.items()}
        self._revoked: set[bytes] = set()

    def _creator_document(self, document: bytes) -> tuple[str, Mapping[Any, Any]]:
        message = parse_sign1(document)
        issuer = self._creators.get(message.kid)
        if issuer is None:
            raise PassRefused(Reason.UNDELEGATED, f"key {message.kid.hex()} is no creator's key")
        message.verify(self._signers[message.kid].public)
        claims = _claims(message)
        if claims.get(CLAIM_ISS) != issuer:
            raise PassRefused(
                Reason.WRONG_ISSUER, f"signed by {issuer}'s key for {claims.get(CLAIM_ISS)!r}"
            )
        return issuer, claims

    def add_delegation(self, document: bytes) -> Signer:
        """Verify a creator's delegation and trust the box key it names; raise PassRefused if bad."""
        issuer, claims = self._creator_document(document)
        body, nbf, exp = claims.get(CLAIM_DELEGATE), claims.get(CLAIM_NBF), claims.get(CLAIM_EXP)
        if (
            not isinstance(body, Mapping)
            or not isinstance(body.get(1), bytes)
            or len(body[1]) != 32
        ):
            raise PassRefused(Reason.MALFORMED, "a delegation names a 32-byte Ed25519 key")
        if not isinstance(nbf, int) or not isinstance(exp, int) or exp <= nbf:
            raise PassRefused(Reason.MALFORMED, "a delegation has a window nbf < exp")
        signer = Signer(issuer, Ed25519PublicKey.from_public_bytes(body[1]), nbf, exp)
        self._signers[kid_of(signer.public)] = signer
        return signer

    def add_revocations(self, document: bytes) -> int:
        """Verify a creator's revocation list and add its ids; return how many it names."""
        _issuer, claims = self._creator_document(document)
        ids = claims.get(CLAIM_REVOKED)
        if not isinstance(ids, list | tuple) or not all(
            isinstance(i, bytes) and len(i) == 16 for i in ids
        ):
            raise PassRefused(Reason.MALFORMED, "a revocation list is a list of 16-byte ids")
        self._revoked.update(ids)
        return len(ids)

    def verify(self, text: str, now: int) -> Pass:
        """Decode and verify a pass's QR text at time `now`; raise PassRefused naming the reason."""
        if len(text) > MAX_TEXT or not text.startswith(PREFIX):
            raise PassRefused(
                Reason.MALFORMED, f"a pass is {PREFIX}… of at most {MAX_TEXT} characters"
            )
        try:
            inflater = zlib.decompressobj()
            document = inflater.decompress(base45.decode(text[len(PREFIX) :]), MAX_CBOR)
        except (Base45Error, zlib.error) as exc:
            raise PassRefused(Reason.MALFORMED, str(exc)) from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise PassRefused(
                Reason.MALFORMED, f"a pass inflates to at most {MAX_CBOR} whole bytes"
            )
        message = parse_sign1(document)
        signer = self._signers.get(message.kid)
        if signer is None:
            raise PassRefused(
                Reason.UNDELEGATED, f"key {message.kid.hex()} is not trusted by any creator"
            )
        message.verify(signer.public)
        card = pass_from(_claims(message), message.kid)
        if card.issuer != signer.issuer:
            raise PassRefused(
                Reason.WRONG_ISSUER, f"a key of {signer.issuer} signed a pass of {card.issuer}"
            )
        if not signer.valid_from <= card.issued_at < signer.valid_until:
            raise PassRefused(Reason.UNDELEGATED, "issued outside its signer's delegation")
        if now < card.valid_from:
            raise PassRefused(Reason.NOT_YET_VALID, f"valid from {card.valid_from}")
        if now >= card.valid_until:
            raise PassRefused(Reason.EXPIRED, f"expired at {card.valid_until}")
        if revocation_id(card.issuer, card.pass_id) in self._revoked:
            raise PassRefused(Reason.REVOKED, f"pass {card.pass_id} is revoked")
        return card
