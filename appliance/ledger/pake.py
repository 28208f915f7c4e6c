"""Pairing by PAKE: SPAKE2 over the 6-digit code, confirmed both ways, bound to the box's key.

A 6-digit code sent in clear, hashed or MAC'd is found offline in under a second (10^6 tries).
SPAKE2 (python-spake2, Ed25519 group) turns it into a shared key that a passive observer cannot
test codes against and an active attacker can test one code per run. On top of it:

- identities: the console is `ID_CONSOLE`, the node `ID_NODE_PREFIX + node id`;
- key confirmation both ways (HMAC-SHA256), each MAC covering the transcript and the box's
  certificate fingerprint: the node's own, and the one the console saw (`peer_fingerprint`), so
  a man in the middle that terminates TLS with its own certificate fails the run;
- the token comes sealed (ChaCha20-Poly1305) under a key derived from the same run.

Pure: no I/O, no clock. The messages are documented in docs/api.md ("Pairing"). spake2 is
imported on first use: importing it computes its group parameters (~50-130 ms here), which
neither the node's nor the console's start should wait for.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.ledger.errors import PakeError

ID_CONSOLE = b"stallbox console"
ID_NODE_PREFIX = b"stallbox node "
PROTOCOL = b"stallbox pairing v1"
MESSAGE_LEN = 33  # side byte (b"A" or b"B") + a 32-byte Ed25519 point
MAC_LEN = 32
NONCE_LEN = 12
CODE = re.compile(r"[0-9]{6}")
CONFIRM_CONSOLE = b"console confirms"
CONFIRM_NODE = b"node confirms"


def node_identity(node_id: str) -> bytes:
    """The node's SPAKE2 identity: `stallbox node ` + its node id."""
    return ID_NODE_PREFIX + node_id.encode("utf-8")


def _password(code: str) -> bytes:
    if not CODE.fullmatch(code):
        raise PakeError("the pairing code has 6 digits")
    return code.encode("ascii")


def _frame(*parts: bytes) -> bytes:
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


@dataclass(frozen=True, slots=True)
class Keys:
    """What one run derives from SPAKE2's shared key: two MAC keys, a sealing key, the transcript."""

    console_mac: bytes
    node_mac: bytes
    seal: bytes
    transcript: bytes  # SHA-256 of the framed protocol name, identities and both messages


def derive(shared: bytes, node_id: str, message_a: bytes, message_b: bytes) -> Keys:
    """Split SPAKE2's key into the run's keys with HKDF-SHA256 (info = protocol + transcript)."""
    transcript = hashlib.sha256(
        _frame(PROTOCOL, ID_CONSOLE, node_identity(node_id), message_a, message_b)
    ).digest()
    okm = HKDF(hashes.SHA256(), 96, salt=None, info=PROTOCOL + transcript).derive(shared)
    return Keys(okm[:32], okm[32:64], okm[64:], transcript)


def confirmation(key: bytes, label: bytes, transcript: bytes, fingerprint: str) -> bytes:
    """HMAC-SHA256 over label, transcript and the box's certificate fingerprint (framed)."""
    message = _frame(label, transcript, fingerprint.encode("utf-8"))
    return hmac.new(key, message, hashlib.sha256).digest()


def _check_message(message: bytes, side: bytes) -> None:
    if len(message) != MESSAGE_LEN or message[:1] != side:
        raise PakeError(f"the SPAKE2 message must be {MESSAGE_LEN} bytes starting with {side!r}")


def _finish(run: Any, message: bytes) -> bytes:
    from spake2.ed25519_basic import NotOnCurve
    from spake2.spake2 import SPAKEError

    try:
        shared = run.finish(message)
    except (SPAKEError, NotOnCurve, ValueError, AssertionError) as exc:
        # off the curve, outside the prime-order group, or our own message reflected back
        raise PakeError(f"the SPAKE2 message is not a valid point ({exc!r})") from None
    assert isinstance(shared, bytes)
    return shared


class NodeRun:
    """The node's side of one run: its message first, then the console's confirmation checked."""

    def __init__(self, code: str, node_id: str) -> None:
        from spake2 import SPAKE2_B

        self.node_id = node_id
        self._spake = SPAKE2_B(_password(code), idA=ID_CONSOLE, idB=node_identity(node_id))
        self.message: bytes = self._spake.start()
        self._done = False

    def finish(self, message_a: bytes, confirm: bytes, fingerprint: str) -> Keys:
        """Take the console's message and MAC; return the keys, or raise PakeError (once only)."""
        if self._done:
            raise PakeError("this pairing run is over; start again")
        self._done = True
        _check_message(message_a, b"A")
        keys = derive(_finish(self._spake, message_a), self.node_id, message_a, self.message)
        expected = confirmation(keys.console_mac, CONFIRM_CONSOLE, keys.transcript, fingerprint)
        if not hmac.compare_digest(expected, confirm):
            raise PakeError("the console's confirmation does not verify")
        return keys


def node_reply(keys: Keys, fingerprint: str, payload: bytes) -> tuple[bytes, bytes]:
    """The node's confirmation and the payload sealed under the run's key (nonce + ciphertext)."""
    confirm = confirmation(keys.node_mac, CONFIRM_NODE, keys.transcript, fingerprint)
    nonce = os.urandom(NONCE_LEN)
    sealed = nonce + ChaCha20Poly1305(keys.seal).encrypt(nonce, payload, keys.transcript)
    return confirm, sealed


@dataclass(frozen=True, slots=True)
class ConsoleFinish:
    """The console's second step: its message and confirmation to send, and the run's keys."""

    message: bytes
    confirm: bytes
    keys: Keys


def console_finish(
    code: str, node_id: str, message_b: bytes, peer_fingerprint: str
) -> ConsoleFinish:
    """Answer the node's message: SPAKE2 as the console, then confirm over `peer_fingerprint`."""
    from spake2 import SPAKE2_A

    spake = SPAKE2_A(_password(code), idA=ID_CONSOLE, idB=node_identity(node_id))
    message_a: bytes = spake.start()
    _check_message(message_b, b"B")
    keys = derive(_finish(spake, message_b), node_id, message_a, message_b)
    confirm = confirmation(keys.console_mac, CONFIRM_CONSOLE, keys.transcript, peer_fingerprint)
    return ConsoleFinish(message_a, confirm, keys)


def console_open(keys: Keys, peer_fingerprint: str, confirm: bytes, sealed: bytes) -> bytes:
    """Check the node's confirmation over `peer_fingerprint` and open the sealed payload."""
    expected = confirmation(keys.node_mac, CONFIRM_NODE, keys.transcript, peer_fingerprint)
    if not hmac.compare_digest(expected, confirm):
        raise PakeError("the node's confirmation does not verify")
    try:
        return ChaCha20Poly1305(keys.seal).decrypt(
            sealed[:NONCE_LEN], sealed[NONCE_LEN:], keys.transcript
        )
    except InvalidTag:
        raise PakeError("the sealed answer does not open under the run's key") from None
