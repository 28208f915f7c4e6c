"""Redemptions between a creator's boxes over the LAN: the signed message and its checks.

Every message a box sends its peers carries the creator's delegation to the box's key
(appliance/passes/trust.py) and is signed by that key; each redemption inside is signed on its
own too, so a box can keep it (and hand it on as evidence) apart from the message. A receiver
trusts a sender only if the delegation verifies under a creator key of its own `[passes]`, is
for the same creator (issuer) as its own delegation, and is valid now; the message's `sender`
is the delegated key's id. Nothing here does I/O: services/pass_peers.py sends and stores.

Signed bytes (Ed25519, raw key of the delegation):

- a redemption: `b"stallbox pass redemption v1\\n"` + JSON `[sender, event, seq, pass_id,
  period, units, allowance, at]`;
- a message: `b"stallbox pass peer message v1\\n"` + the message's JSON with `sig` = "".
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.ledger.identity import DeviceKey, key_id
from appliance.passes.errors import PassRefused
from appliance.passes.trust import Signer, TrustStore

VERSION = 1
REDEMPTION_PREFIX = b"stallbox pass redemption v1\n"
MESSAGE_PREFIX = b"stallbox pass peer message v1\n"
MAX_REDEMPTIONS = 40  # per message: a push stays under the attendee plane's 16 KiB body limit
MAX_FIELD = 200


class Kind(StrEnum):
    """What a message is: a push of new redemptions, the answer to a pull, or a push's ack."""

    PUSH = "push"
    STATE = "state"
    ACK = "ack"


class WireRedemption(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One redemption as it travels: the sender's seq names it among the sender's."""

    seq: int
    pass_id: str
    period: str
    units: int
    allowance: int
    at: str
    sig: str  # base64url, no padding


class PeerMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What boxes exchange; `sig` covers every other field (see the module docstring)."""

    v: int
    kind: str
    sender: str  # the sender's key id (appliance/ledger/identity.key_id)
    event: str  # [passes] event: boxes at another event do not count each other
    delegation: str  # base64url of the creator's COSE_Sign1 delegation to the sender's key
    nonce: str  # a pull's or push's nonce, echoed by the answer: a stale answer proves nothing
    head: int  # the sender's highest own redemption seq
    acked: int = 0  # in an ack: the highest seq of the receiver's it now holds
    redemptions: list[WireRedemption] = []
    sig: str = ""


class PeerRefused(Exception):
    """A peer's message did not verify; the text names the field."""


def b64(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str, field: str) -> bytes:
    """Decode base64url (padding optional); PeerRefused naming `field` if it is not."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PeerRefused(f"{field}: not base64url") from None


def redemption_bytes(sender: str, event: str, r: WireRedemption) -> bytes:
    """The bytes a redemption's signature covers."""
    fields = [sender, event, r.seq, r.pass_id, r.period, r.units, r.allowance, r.at]
    return REDEMPTION_PREFIX + msgspec.json.encode(fields)


def sign_redemption(key: DeviceKey, event: str, r: WireRedemption) -> WireRedemption:
    """`r` with its signature by `key`."""
    sig = key.sign(redemption_bytes(key.key_id, event, r))
    return msgspec.structs.replace(r, sig=b64(sig))


def message_bytes(message: PeerMessage) -> bytes:
    """The bytes a message's signature covers."""
    return MESSAGE_PREFIX + msgspec.json.encode(msgspec.structs.replace(message, sig=""))


def sign_message(key: DeviceKey, message: PeerMessage) -> bytes:
    """The message signed by `key`, as JSON bytes to send."""
    signed = msgspec.structs.replace(message, sig=b64(key.sign(message_bytes(message))))
    return msgspec.json.encode(signed)


@dataclass(frozen=True, slots=True)
class Verified:
    """A message that verified, and the delegation its sender holds."""

    message: PeerMessage
    signer: Signer


def _check(public: Ed25519PublicKey, sig: str, data: bytes, field: str) -> None:
    raw = unb64(sig, field)
    if len(raw) != 64:
        raise PeerRefused(f"{field}: an Ed25519 signature is 64 bytes")
    try:
        public.verify(raw, data)
    except InvalidSignature:
        raise PeerRefused(f"{field}: the signature does not verify") from None


def _fields(message: PeerMessage) -> None:
    if message.v != VERSION or message.kind not in {k.value for k in Kind}:
        raise PeerRefused(f"v/kind: version {VERSION} push, state or ack")
    if len(message.redemptions) > MAX_REDEMPTIONS:
        raise PeerRefused(f"redemptions: at most {MAX_REDEMPTIONS} per message")
    for i, r in enumerate(message.redemptions):
        if r.seq < 1 or r.units < 1 or r.allowance < 0:
            raise PeerRefused(f"redemptions[{i}]: seq and units from 1, allowance from 0")
        if not all(0 < len(t) <= MAX_FIELD for t in (r.pass_id, r.period, r.at)):
            raise PeerRefused(f"redemptions[{i}]: pass_id, period, at of 1-{MAX_FIELD} chars")


class PeerTrust:
    """Which peers a box believes: boxes delegated by the same creator, at the same event."""

    def __init__(self, trust: TrustStore, issuer: str, event: str) -> None:
        self.trust = trust  # creator keys only (a store of its own: peers add nothing to it)
        self.issuer = issuer
        self.event = event
        self._delegations: dict[str, Signer] = {}

    def signer(self, delegation: str) -> Signer:
        """The delegation's signer if a creator of ours made it for our issuer; else PeerRefused."""
        known = self._delegations.get(delegation)
        if known is not None:
            return known
        try:
            signer = self.trust.add_delegation(unb64(delegation, "delegation"))
        except PassRefused as exc:
            raise PeerRefused(f"delegation: {exc}") from None
        if signer.issuer != self.issuer:
            raise PeerRefused(f"delegation: for {signer.issuer}, this box serves {self.issuer}")
        if len(self._delegations) < 1024:
            self._delegations[delegation] = signer
        return signer

    def verify(self, raw: bytes, now: int, nonce: str | None = None) -> Verified:
        """Decode and verify a peer's message (and every redemption in it); PeerRefused if not."""
        try:
            message = msgspec.json.decode(raw, type=PeerMessage)
        except msgspec.DecodeError as exc:
            raise PeerRefused(f"message: {exc}") from None
        _fields(message)
        if message.event != self.event:
            raise PeerRefused(f"event: {message.event!r}, this box is at {self.event!r}")
        if not message.sig:
            raise PeerRefused("sig: the message is not signed")
        signer = self.signer(message.delegation)
        if not signer.valid_from <= now < signer.valid_until:
            raise PeerRefused("delegation: not valid now")
        if key_id(signer.public) != message.sender:
            raise PeerRefused("sender: not the delegated key's id")
        _check(signer.public, message.sig, message_bytes(message), "sig")
        if nonce is not None and message.nonce != nonce:
            raise PeerRefused("nonce: not the one asked with (a stale answer)")
        for i, r in enumerate(message.redemptions):
            data = redemption_bytes(message.sender, message.event, r)
            _check(signer.public, r.sig, data, f"redemptions[{i}].sig")
        return Verified(message, signer)
