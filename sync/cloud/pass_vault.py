"""The cloud as a creator's pass issuer: the creator's signing key and the documents it signs.

A creator's Ed25519 key lives in the cloud's state dir (`creators/<creator>.key`, PEM, 0600,
created on first use, never printed; only its public key leaves, for the boxes' `[passes]`).
With it the cloud signs passes, delegations to box keys and one revocation list per creator
(docs/passes.md). The list is the record of what is revoked: revoking re-signs it with an
`iat` above the last one, so a box can always tell the newer list. Every write is a temp file,
fsync and rename under the creator's lock, so cloud processes sharing the state dir agree.

Creators are keyed by their id string only (the registry of creators lives elsewhere).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.durable import make_dirs, write_atomic
from appliance.passes.cose import loads, parse_sign1, raw_public
from appliance.passes.errors import PassRefused
from appliance.passes.model import (
    CLAIM_IAT,
    CLAIM_REVOKED,
    Entitlement,
    Kind,
    Pass,
    Period,
    entitlement_from,
)
from appliance.passes.trust import delegate, issue_pass, revocation_id, revocation_list
from sync.cloud.state import _create_once, _read_private
from sync.errors import BatchInvalid, CloudStateError

CREATORS = "creators"
CREATOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._@-]{0,63}")
PASS_ID = re.compile(r"[0-9a-f]{32}")
BOX_KEY = re.compile(r"[0-9a-f]{64}")
MAX_DAYS = 3660
MAX_DELEGATIONS = 256  # per creator, in a box's trust answer
MAX_REVOKED = 200_000
DAY = 86_400
KINDS = {k.name.lower(): k for k in Kind}
PERIODS = {p.name.lower(): p for p in Period}


def creator_id(text: str, field: str = "creator") -> str:
    """The creator id, checked (it names files); BatchInvalid (404 in a path) naming `field`."""
    if not CREATOR_ID.fullmatch(text):
        raise BatchInvalid(
            f"{field}: {text[:70]!r} is not a creator id (1-64 of A-Z a-z 0-9 : . _ @ -, "
            "starting with a letter or digit)",
            404 if field == "creator" else 422,
        )
    return text


def entitlement_of(raw: Mapping[str, Any], field: str) -> Entitlement:
    """An entitlement from its JSON form; BatchInvalid 422 naming `field` if it is not one.

    {"kind": "percent_off"|"amount_off"|"early_access"|"allowance", "value": int,
     "targets": [text], "currency": "BRL" (amount_off), "period": "event"|"day" (allowance)}
    """
    kind = KINDS.get(str(raw.get("kind", "")))
    if kind is None:
        raise BatchInvalid(f"{field}.kind: one of {', '.join(KINDS)}", 422)
    cbor: dict[int, Any] = {1: int(kind), 2: raw.get("value"), 3: raw.get("targets", [])}
    if "currency" in raw:
        cbor[4] = raw["currency"]
    if "period" in raw:
        period = PERIODS.get(str(raw["period"]))
        if period is None:
            raise BatchInvalid(f"{field}.period: one of {', '.join(PERIODS)}", 422)
        cbor[5] = int(period)
    unknown = set(raw) - {"kind", "value", "targets", "currency", "period"}
    if unknown:
        raise BatchInvalid(f"{field}.{sorted(unknown)[0]}: unknown key", 422)
    try:
        return entitlement_from(cbor)
    except PassRefused as exc:
        raise BatchInvalid(f"{field}: {exc.detail}", 422) from None


@dataclass(frozen=True, slots=True)
class Issued:
    """A pass the cloud signed: its id and its QR text."""

    pass_id: str
    text: str
    valid_from: int
    valid_until: int


@dataclass(frozen=True, slots=True)
class TrustDocs:
    """What a box fetches for one creator: the signed revocation list and the delegations."""

    creator: str
    revocations: bytes | None
    delegations: tuple[bytes, ...]


class PassVault:
    """The creators' keys and signed documents in the cloud's state dir."""

    def __init__(self, state: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = state / CREATORS
        self.clock = clock

    def _path(self, creator: str, suffix: str) -> Path:
        return self.root / f"{creator_id(creator)}{suffix}"

    @contextmanager
    def _locked(self, creator: str) -> Iterator[None]:
        make_dirs(self.root, mode=0o700)
        fd = os.open(self._path(creator, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def key(self, creator: str) -> Ed25519PrivateKey:
        """The creator's signing key, created (PEM, 0600) on first use."""
        path = self._path(creator, ".key")
        if not path.exists():
            make_dirs(self.root, mode=0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _create_once(path, pem)
        try:
            key = serialization.load_pem_private_key(_read_private(path), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise CloudStateError(f"{path}: garbled, not a PEM Ed25519 private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise CloudStateError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
        return key

    def public_hex(self, creator: str) -> str:
        """The creator's raw public key as 64 hex digits (what `[passes] creators` takes)."""
        return raw_public(self.key(creator).public_key()).hex()

    def issue(
        self,
        creator: str,
        holder: str,
        days: int,
        entitlements: Sequence[Entitlement],
        valid_from: int | None = None,
    ) -> Issued:
        """Sign a new pass for `holder`, valid `days` days from `valid_from` (default now)."""
        if not 1 <= days <= MAX_DAYS:
            raise BatchInvalid(f"valid_days: from 1 to {MAX_DAYS}", 422)
        if not 0 < len(holder) <= 64:
            raise BatchInvalid("holder: text of 1 to 64 characters", 422)
        if not 0 < len(entitlements) <= 16:
            raise BatchInvalid("entitlements: 1 to 16 of them", 422)
        now = int(self.clock())
        start = now if valid_from is None else valid_from
        card = Pass(
            pass_id=secrets.token_bytes(16).hex(), issuer=creator, holder=holder,
            valid_from=start, valid_until=start + days * DAY, issued_at=now,
            entitlements=tuple(entitlements), signed_by="",
        )  # fmt: skip
        return Issued(card.pass_id, issue_pass(self.key(creator), card), start, card.valid_until)

    def delegate(self, creator: str, box_key: str, label: str, days: int) -> bytes:
        """Sign (and keep) the creator's delegation to a box key (64 hex digits) for `days`."""
        if not BOX_KEY.fullmatch(box_key):
            raise BatchInvalid("public_key: the box's raw Ed25519 public key, 64 hex digits", 422)
        try:
            box = Ed25519PublicKey.from_public_bytes(bytes.fromhex(box_key))
        except ValueError:
            raise BatchInvalid("public_key: not an Ed25519 public key", 422) from None
        if not 1 <= days <= MAX_DAYS:
            raise BatchInvalid(f"valid_days: from 1 to {MAX_DAYS}", 422)
        if not 0 < len(label) <= 64:
            raise BatchInvalid("label: text of 1 to 64 characters", 422)
        now = int(self.clock())
        document = delegate(self.key(creator), creator, box, label, (now, now + days * DAY))
        folder = self._path(creator, ".delegations")
        with self._locked(creator):
            make_dirs(folder, mode=0o700)
            write_atomic(folder / f"{box_key}.cose", document)
        return document

    def _held(self, creator: str) -> tuple[list[bytes], int]:
        """The ids and iat of the creator's current revocation list ([], 0 without one)."""
        path = self._path(creator, ".revocations")
        if not path.exists():
            return [], 0
        message = parse_sign1(path.read_bytes())
        message.verify(self.key(creator).public_key())
        claims = loads(message.payload, "the revocation list")
        return list(claims[CLAIM_REVOKED]), int(claims[CLAIM_IAT])

    def revoke(self, creator: str, pass_id: str) -> tuple[int, int]:
        """Add a pass to the creator's signed revocation list; return (ids listed, its iat)."""
        if not PASS_ID.fullmatch(pass_id):
            raise BatchInvalid("pass_id: 32 lowercase hex digits", 422)
        key = self.key(creator)
        with self._locked(creator):
            ids, iat = self._held(creator)
            rid = revocation_id(creator, pass_id)
            if rid in ids:
                return len(ids), iat
            if len(ids) >= MAX_REVOKED:
                raise BatchInvalid(f"pass_id: the list already holds {MAX_REVOKED}", 409)
            ids.append(rid)
            iat = max(int(self.clock()), iat + 1)  # strictly newer than the list boxes hold
            write_atomic(
                self._path(creator, ".revocations"), revocation_list(key, creator, ids, iat)
            )
        return len(ids), iat

    def trust(self, creator: str) -> TrustDocs:
        """The creator's current revocation list and delegations (none when it has no key)."""
        listed = self._path(creator, ".revocations")
        folder = self._path(creator, ".delegations")
        revocations = listed.read_bytes() if listed.exists() else None
        names = sorted(folder.glob("*.cose"))[:MAX_DELEGATIONS] if folder.is_dir() else []
        return TrustDocs(creator, revocations, tuple(p.read_bytes() for p in names))
