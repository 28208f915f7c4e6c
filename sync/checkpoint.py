"""C2SP signed notes and tlog checkpoints with Ed25519: what the cloud signs and the box trusts.

A checkpoint names the log (origin), its size and its root hash; the cloud signs it so a device
can hold it against the cloud later: every newer checkpoint must be provably consistent with it.
The formats are byte-compatible with c2sp.org/signed-note, c2sp.org/tlog-checkpoint and Go's
golang.org/x/mod/sumdb/note, so standard witnesses and monitors can read our checkpoints too.

Parsing is strict, because a note that two parsers read differently is a forgery waiting to
happen: valid UTF-8 with no control characters but newline, canonical padded base64, a size with
no leading zeros, a root of 32 bytes. As the spec requires, signatures by unknown keys are
ignored, every signature by a known key is verified (one bad one rejects the note), and at least
one known key must have signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sync.errors import NoteError, SignatureError, VerifierKeyError
from sync.tlog import HASH_SIZE

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # the spec asks for at least 16; Go's note package stops at 100
MAX_TREE_SIZE = 2**64 - 1
_SIG_PREFIX = "\u2014 "  # em dash, space
_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_HASH = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root hash (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 32-bit key id and the raw signature after it."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """An opened signed note: its text and which signatures were verified or ignored."""

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...]


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> int:
    """Return the key id: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key), big-endian."""
    data = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + _raw_public(public_key)
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 key under a name, as written '<name>+<key id hex>+<base64 key>'."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        """Return the verifier for `public_key` under `name`."""
        if not _valid_name(name):
            raise VerifierKeyError(f"key name {name!r} is empty or has a space or '+'")
        return cls(name, key_id(name, public_key), public_key)

    def __str__(self) -> str:
        key = base64.b64encode(bytes([ALG_ED25519]) + _raw_public(self.public_key)).decode()
        return f"{self.name}+{self.key_id:08x}+{key}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether `signature` is this key's Ed25519 signature of `message`."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """Return the verifier key string '<name>+<key id hex>+<base64(0x01 || key)>' for config."""
    return str(NoteVerifier.from_public_key(name, public_key))


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse a verifier key string; VerifierKeyError if malformed or its key id does not match."""
    name, _, rest = text.partition("+")
    hash_hex, _, key_b64 = rest.partition("+")
    if not _valid_name(name):
        raise VerifierKeyError("verifier key: the name is empty or has a space or '+'")
    if not _KEY_HASH.fullmatch(hash_hex):
        raise VerifierKeyError("verifier key: the key id is not 8 lowercase hex digits")
    raw = _b64decode(key_b64)
    if raw is None or len(raw) != 33 or raw[0] != ALG_ED25519:
        raise VerifierKeyError("verifier key: the key is not base64 of 0x01 and 32 key bytes")
    verifier = NoteVerifier.from_public_key(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
    if verifier.key_id != int(hash_hex, 16):
        raise VerifierKeyError("verifier key: the key id does not match the name and key")
    return verifier


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _b64decode(text: str) -> bytes | None:
    """Decode standard padded base64, refusing anything but its one canonical spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _check_text(text: str) -> None:
    if any(c < " " and c != "\n" for c in text):
        raise NoteError("note has a control character other than newline")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("note is not valid UTF-8") from None


def sign_note(private_key: Ed25519PrivateKey, name: str, text: str) -> str:
    """Return `text` signed by `private_key` under `name` as a signed note."""
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_text(text)
    verifier = NoteVerifier.from_public_key(name, private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    line = base64.b64encode(verifier.key_id.to_bytes(4, "big") + signature).decode("ascii")
    return f"{text}\n{_SIG_PREFIX}{name} {line}\n"


def _parse_signature(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("signature line does not start with an em dash and a space")
    name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    raw = _b64decode(encoded)
    if not _valid_name(name) or raw is None or len(raw) < 5:
        raise NoteError("signature line is malformed")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def open_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse a signed note and check it against trusted `verifiers`; return its text."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not valid UTF-8") from None
    _check_text(note)
    known: dict[tuple[str, int], NoteVerifier] = {}
    for v in verifiers:
        other = known.setdefault((v.name, v.key_id), v)
        if _raw_public(other.public_key) != _raw_public(v.public_key):
            raise SignatureError(f"two trusted keys share the name and id {v.name}+{v.key_id:08x}")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note does not end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    message = text.encode("utf-8")
    verified: dict[NoteSignature, None] = {}
    unverified: dict[NoteSignature, None] = {}
    for line in lines:
        sig = _parse_signature(line)
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            unverified[sig] = None
        elif verifier.verify(message, sig.signature):
            verified[sig] = None
        else:
            raise SignatureError(f"bad signature by trusted key {sig.name}+{sig.key_id:08x}")
    if not verified:
        raise SignatureError("note has no signature by a trusted key")
    return Note(text, tuple(verified), tuple(unverified))


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """Return the checkpoint's note text: origin, size, base64 root, extension lines."""
    if not checkpoint.origin or "\n" in checkpoint.origin:
        raise NoteError("checkpoint origin must be one non-empty line")
    if not 0 <= checkpoint.size <= MAX_TREE_SIZE:
        raise NoteError(f"checkpoint size {checkpoint.size} is not a uint64")
    if len(checkpoint.root_hash) != HASH_SIZE:
        raise NoteError(f"checkpoint root hash has {len(checkpoint.root_hash)} bytes, not 32")
    if any(not line or "\n" in line for line in checkpoint.extensions):
        raise NoteError("checkpoint extension lines must be non-empty single lines")
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    text = "".join(
        f"{line}\n"
        for line in (checkpoint.origin, str(checkpoint.size), root, *checkpoint.extensions)
    )
    _check_text(text)
    return text


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (already verified by `open_note`); NoteError if malformed."""
    _check_text(text)
    if not text.endswith("\n"):
        raise NoteError("checkpoint text does not end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs an origin, a size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("checkpoint origin is empty")
    if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise NoteError(
            f"checkpoint size {size_text!r} is not a decimal uint64 without leading zeros"
        )
    root = _b64decode(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise NoteError("checkpoint root hash is not canonical base64 of 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("checkpoint has an empty extension line")
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    name: str,
    origin: str,
    size: int,
    root: bytes,
    extensions: Sequence[str] = (),
) -> str:
    """Return the signed note of the checkpoint (origin, size, root), signed under `name`."""
    body = format_checkpoint(Checkpoint(origin, size, root, tuple(extensions)))
    return sign_note(private_key, name, body)


def verify_checkpoint(
    note: str | bytes, verifier: NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Return the checkpoint in a note signed by `verifier`; NoteError or SignatureError if not.

    Pass `origin` to also require the log the caller expects.
    """
    checkpoint = parse_checkpoint(open_note(note, [verifier]).text)
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint is from {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint
