"""The device identity: one Ed25519 key in the state dir, created once with mode 0600.

A garbled key file is an error, never a reason to make a new key: a new key would fork the
device's identity and orphan every receipt already signed. The key id is derived from the public
key so anyone holding the key can recompute it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.ledger.errors import KeyFileError
from appliance.ledger.fingerprints import raw_fingerprint

KEY_FILE = "device.key"
ID_CHARS = 10  # 50 bits of SHA-256, lowercase base32


def key_id(public: Ed25519PublicKey) -> str:
    """Return the 10-character id of a public key: base32 of SHA-256 of its raw 32 bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b32encode(hashlib.sha256(raw).digest()).decode("ascii")[:ID_CHARS].lower()


def fingerprint(public: Ed25519PublicKey) -> str:
    """Return the SHA-256 fingerprint people compare by eye: 'SHA256:' + 16 hex groups of 4."""
    return raw_fingerprint(
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def public_key_text(public: Ed25519PublicKey) -> str:
    """Return the public key as base64url of its raw 32 bytes (no padding)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Read a public key given as base64url raw bytes (our format) or a PEM SubjectPublicKeyInfo."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return key
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) != 32:
            raise ValueError(f"{len(raw)} bytes, an Ed25519 public key has 32")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"public key: not a valid Ed25519 public key ({exc})") from None


def parse_public_keys(text: str) -> list[Ed25519PublicKey]:
    """Read a public key file: one PEM key, or base64url raw keys one per line (all epochs)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return [parse_public_key(text)]
    keys = [parse_public_key(line) for line in text.splitlines() if line.strip()]
    if not keys:
        raise KeyFileError("public key: empty, no key given")
    return keys


IDENTITY_PREFIX = b"stallbox node identity v1\n"  # domain separation: never a receipt or a token


def identity_proven(public_key: Ed25519PublicKey, challenge: bytes, signature: bytes) -> bool:
    """Whether `signature` is the node's answer to `challenge` (GET /api/identity)."""
    try:
        public_key.verify(signature, IDENTITY_PREFIX + challenge)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class DeviceKey:
    """The device's signing key with its derived id."""

    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    key_id: str

    @classmethod
    def from_private(cls, private: Ed25519PrivateKey) -> DeviceKey:
        """Wrap a private key, deriving its public half and id."""
        public = private.public_key()
        return cls(private, public, key_id(public))

    def sign(self, message: bytes) -> bytes:
        """Sign `message` (the caller adds the domain-separation prefix)."""
        return self.private.sign(message)


def private_pem(key: DeviceKey) -> bytes:
    """The key file's bytes: the private key as unencrypted PEM PKCS#8 (keep it 0600)."""
    return key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_key(state_dir: Path, name: str = KEY_FILE) -> DeviceKey:
    """Create `device.key` (or `name`; mode 0600) in `state_dir`; refuse if one is already there."""
    path = state_dir / name
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; refusing to replace a device key") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    _fsync_dir(state_dir)
    return DeviceKey.from_private(private)


def load_key(state_dir: Path, name: str = KEY_FILE) -> DeviceKey:
    """Load `device.key` (or `name`) from `state_dir`; KeyFileError naming the file on a problem."""
    path = state_dir / name
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no device key (run `stallbox init`)") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: mode {stat.S_IMODE(info.st_mode):04o} lets others read the key; "
            f"run `chmod 600 {path}`"
        )
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"{path}: garbled, not a PEM PKCS#8 Ed25519 private key; restore it from a backup "
            "(a new key would fork this device's receipt chain)"
        ) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: holds a {type(private).__name__}, not an Ed25519 key")
    return DeviceKey.from_private(private)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
