"""Creators at the cloud: their logins, the boxes of their events, their signed flag sets.

A creator (`stallbox cloud creator add ID`) logs in to the dashboard with a password kept only
as a scrypt hash (RFC 7914; N=2^14, r=8, p=1, a 16-byte salt). `creator assign` says which
event a box (device) serves, so its bundle's scope is `creator/event`. A flag set (flagd's
format, docs/flags.md) is checked, signed once with the cloud's flags key (`flags.key` in the
state dir, Ed25519, kept apart from the log key: a flags signature means nothing for the log)
and served as is to every box of the event, so a box offered the same bundle twice keeps its
canaries' figures and deadline. A box trusts the key through its `[flags] keys` table:
`stallbox cloud creator flags-key` prints the line to put there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.flags.bundle import sign_bundle
from appliance.flags.errors import DefinitionError
from appliance.flags.evaluate import FlagSet
from appliance.ledger.identity import key_id, public_key_text
from sync.cloud import state as cloud_state
from sync.cloud.creator_store import CreatorTables, StoredFlags
from sync.errors import BatchInvalid, CloudStateError

FLAGS_KEY = "flags.key"
SESSION_KEY = "dashboard.key"
ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
DEFAULT_TTL_S = 7 * 86400  # a bundle is good this long after it is signed
MAX_TTL_S = 366 * 86400
MIN_PASSWORD = 10
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True, slots=True)
class CreatorKeys:
    """What the creator routes sign with: flag bundles, and the dashboard's session cookies."""

    flags_key: Ed25519PrivateKey
    session_secret: bytes

    @property
    def kid(self) -> str:
        """The flags key's id, as a box's [flags] keys table names it."""
        return "cloud-" + key_id(self.flags_key.public_key())

    @classmethod
    def ephemeral(cls) -> CreatorKeys:
        """Fresh keys held in memory only (an app built without a state dir, e.g. in tests)."""
        return cls(Ed25519PrivateKey.generate(), secrets.token_bytes(32))


def load_keys(state: Path) -> CreatorKeys:
    """Load the flags key and the session secret from the state dir, creating each at first use."""
    path = state / FLAGS_KEY
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        cloud_state._create_once(path, pem)
    try:
        key = serialization.load_pem_private_key(cloud_state._read_private(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CloudStateError(f"{path}: garbled, not a PEM Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CloudStateError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    secret_path = state / SESSION_KEY
    if not secret_path.exists():
        cloud_state._create_once(secret_path, secrets.token_hex(32).encode("ascii") + b"\n")
    secret = cloud_state._read_private(secret_path).strip()
    if len(secret) < 32:
        raise CloudStateError(f"{secret_path}: too short; delete it to make a new one")
    return CreatorKeys(key, secret)


def check_id(value: str, field: str) -> str:
    """The id if it is one (lowercase letters, digits, '-'; at most 40); else BatchInvalid."""
    if not ID.fullmatch(value):
        raise BatchInvalid(f"{field}: {value[:40]!r} is not an id (a-z, 0-9, '-', at most 40)")
    return value


def hash_password(password: str) -> str:
    """Return `scrypt$N$r$p$salt$hash` (base64url) for the password."""
    if len(password) < MIN_PASSWORD:
        raise BatchInvalid(f"password: at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 << 20, **SCRYPT)
    n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    """Whether the password is the one `stored` hashes (constant-time compare)."""
    try:
        name, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
            dklen=len(_unb64(digest)), maxmem=64 << 20,
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return name == "scrypt" and hmac.compare_digest(got, _unb64(digest))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def scope_of(creator: str, event: str) -> str:
    """The bundle scope of a creator's event, as a box's [flags] scope names it."""
    return f"{creator}/{event}"


async def put_flag_set(
    tables: CreatorTables, keys: CreatorKeys, creator: str, event: str, document: Any,
    *, now: datetime | None = None, ttl_s: int = DEFAULT_TTL_S,
) -> StoredFlags:  # fmt: skip
    """Check a flagd document, sign it for `creator/event` and store it; BatchInvalid if bad."""
    check_id(creator, "creator")
    check_id(event, "event")
    if not 60 <= ttl_s <= MAX_TTL_S:
        raise BatchInvalid(f"ttl_s: {ttl_s}: must be 60-{MAX_TTL_S}", 422)
    if await tables.password_hash(creator) is None:
        raise BatchInvalid(f"creator: {creator} is not registered", 404)
    try:
        FlagSet.from_document(document)
    except DefinitionError as exc:
        raise BatchInvalid(f"flags: {exc}", 422) from None
    issued = int((now or datetime.now(UTC)).timestamp())
    wire = sign_bundle(
        keys.flags_key, keys.kid, scope_of(creator, event), (issued, issued + ttl_s), document
    )
    stored = StoredFlags(
        creator, event, wire.decode(), hashlib.sha256(wire).hexdigest(), issued, issued + ttl_s
    )
    await tables.put_flags(stored)
    return stored


def trust_line(keys: CreatorKeys) -> str:
    """The `[flags] keys` entry a box needs to trust this cloud's bundles."""
    return f'keys = {{ {json.dumps(keys.kid)} = "{public_key_text(keys.flags_key.public_key())}" }}'
