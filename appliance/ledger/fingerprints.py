"""The key fingerprint people compare by eye, from a key's raw bytes alone.

Kept apart from appliance/ledger/identity.py so that a process which only compares a key it was
shown with a pin (the console's start, appliance/tls_pin.py) does not load cryptography for it.
"""

from __future__ import annotations

import hashlib


def raw_fingerprint(raw: bytes) -> str:
    """'SHA256:' + 16 hex groups of 4 of the SHA-256 of an Ed25519 public key's raw 32 bytes."""
    digest = hashlib.sha256(raw).hexdigest()
    return "SHA256:" + ":".join(digest[i : i + 4] for i in range(0, 64, 4))
