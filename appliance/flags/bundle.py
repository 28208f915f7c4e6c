"""Signed flag bundles: flagd definitions a creator's key signed for one scope and time window.

Wire form (JSON): {"payload": b64url(canonical JSON), "kid": signer's key id, "sig": b64url(Ed25519
over the payload bytes)}; the payload is {"v": 1, "scope", "issued_at", "expires_at", "flags":
<flagd document>} in RFC 8785 canonical JSON. A box keeps the last good bundle: a tampered,
unknown-key, expired, out-of-scope or older bundle is refused and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.flags.errors import BundleRefused, DefinitionError
from appliance.flags.evaluate import FlagSet

MAX_BUNDLE = 256 * 1024  # bytes of wire form


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise BundleRefused(f"{field} must be base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BundleRefused(f"{field} is not base64url") from None


def sign_bundle(
    key: Ed25519PrivateKey, kid: str, scope: str, window: tuple[int, int], flags: Any
) -> bytes:
    """Return the wire form of `flags` (a flagd document) signed by `key` for `scope` in `window`."""
    payload = rfc8785.dumps(
        {"v": 1, "scope": scope, "issued_at": window[0], "expires_at": window[1], "flags": flags}
    )
    return json.dumps(
        {"payload": _b64(payload), "kid": kid, "sig": _b64(key.sign(payload))}
    ).encode()


@dataclass(frozen=True, slots=True)
class Bundle:
    """A verified bundle, compiled."""

    scope: str
    issued_at: int
    expires_at: int
    flags: FlagSet


def verify_bundle(
    wire: bytes, keys: Mapping[str, Ed25519PublicKey], scope: str, now: int
) -> Bundle:
    """Verify and compile a bundle for `scope` at `now`; raise BundleRefused naming what is wrong."""
    if len(wire) > MAX_BUNDLE:
        raise BundleRefused(f"a bundle is at most {MAX_BUNDLE} bytes")
    try:
        envelope = json.loads(wire)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleRefused("a bundle is a JSON object") from None
    if not isinstance(envelope, dict):
        raise BundleRefused("a bundle is a JSON object")
    kid = envelope.get("kid")
    public = keys.get(kid) if isinstance(kid, str) else None
    if public is None:
        raise BundleRefused(f"kid {kid!r} is not a trusted key")
    payload = _unb64(envelope.get("payload"), "payload")
    try:
        public.verify(_unb64(envelope.get("sig"), "sig"), payload)
    except InvalidSignature:
        raise BundleRefused("the signature does not verify (tampered?)") from None
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BundleRefused("payload: not JSON") from None
    if not isinstance(body, dict) or body.get("v") != 1:
        raise BundleRefused("payload: v must be 1")
    issued, expires = body.get("issued_at"), body.get("expires_at")
    if not isinstance(issued, int) or not isinstance(expires, int) or expires <= issued:
        raise BundleRefused("payload: issued_at < expires_at, both integers")
    if body.get("scope") != scope:
        raise BundleRefused(f"payload: scope {body.get('scope')!r} is not this box's {scope!r}")
    if now >= expires:
        raise BundleRefused(f"expired at {expires}")
    try:
        flags = FlagSet.from_document(body.get("flags"))
    except DefinitionError as exc:
        raise BundleRefused(f"flags: {exc}") from None
    return Bundle(scope, issued, expires, flags)


class LastGood:
    """The flags a box runs on: the newest bundle that verified, or none (every default)."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], scope: str) -> None:
        self._keys, self._scope = dict(keys), scope
        self.current: Bundle | None = None

    @property
    def flags(self) -> FlagSet:
        """The flags to evaluate: the last good bundle's, or none."""
        return self.current.flags if self.current else FlagSet.empty()

    def offer(self, wire: bytes, now: int) -> Bundle:
        """Take a bundle if it verifies and is not older than the current; else raise, keeping it."""
        bundle = verify_bundle(wire, self._keys, self._scope, now)
        if self.current and bundle.issued_at < self.current.issued_at:
            raise BundleRefused(f"older than the bundle in use (issued {self.current.issued_at})")
        self.current = bundle
        return bundle
