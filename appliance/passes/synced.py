"""Trust documents synced from the cloud: which to keep, and the file that holds them on the box.

The sync daemon fetches each trusted creator's signed revocation list and delegations
(sync/pass_trust.py); the node reads what it kept (services/pass_trust.py). Both apply the same
rule here, so neither can be talked into an older or a forged list: a revocation list is kept
only if the creator's key signed it for that creator and its `iat` is above the one held (the
same bytes again change nothing); a delegation only if the creator signed it. Whatever fails is
refused and the last good document stays.

The bundle is one CBOR map, creator id -> {1: revocation list or null, 2: its iat, 3: {box key
hex: delegation}}, written atomically by the daemon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.passes.cose import loads, parse_sign1
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.model import CLAIM_DELEGATE, CLAIM_IAT
from appliance.passes.trust import TrustStore

MAX_BUNDLE = 32 * 1024 * 1024
SYNCED = "passes/synced.cbor"  # in the state dir: the daemon writes it, the node reads it


@dataclass(frozen=True, slots=True)
class Held:
    """One creator's documents on the box: its newest good revocation list and delegations."""

    revocations: bytes | None = None
    iat: int = 0
    delegations: Mapping[str, bytes] = field(default_factory=dict)  # box key hex -> document


def check_revocations(document: bytes, creator: str, key: Ed25519PublicKey) -> int:
    """Verify a revocation list of `creator` under `key`; return its iat; PassRefused if bad."""
    TrustStore({creator: key}).add_revocations(document)
    iat = loads(parse_sign1(document).payload, "the revocation list").get(CLAIM_IAT)
    if not isinstance(iat, int) or isinstance(iat, bool) or iat < 0:
        raise PassRefused(Reason.MALFORMED, "a revocation list has an iat (6)")
    return iat


def check_delegation(document: bytes, creator: str, key: Ed25519PublicKey) -> str:
    """Verify a delegation of `creator` under `key`; return the box key it names, hex."""
    TrustStore({creator: key}).add_delegation(document)
    body = loads(parse_sign1(document).payload, "the delegation")[CLAIM_DELEGATE]
    return bytes(body[1]).hex()


def take(
    held: Held,
    creator: str,
    key: Ed25519PublicKey,
    revocations: bytes | None,
    delegations: Iterable[bytes],
) -> tuple[Held, list[str]]:
    """What to keep of newly fetched documents, and why each refused one was refused."""
    refused: list[str] = []
    kept = held
    if revocations is not None and revocations != held.revocations:
        try:
            iat = check_revocations(revocations, creator, key)
        except PassRefused as exc:
            refused.append(f"{creator}'s revocation list: {exc}")
        else:
            if iat > held.iat:
                kept = replace(kept, revocations=revocations, iat=iat)
            else:
                refused.append(
                    f"{creator}'s revocation list: iat {iat} is not newer than {held.iat}"
                )
    boxes = dict(kept.delegations)
    for document in delegations:
        try:
            boxes[check_delegation(document, creator, key)] = document
        except PassRefused as exc:
            refused.append(f"{creator}'s delegation: {exc}")
    if boxes != kept.delegations:
        kept = replace(kept, delegations=boxes)
    return kept, refused


def delegation_of(bundle: Mapping[str, Held], creator: str, box_key_hex: str) -> bytes | None:
    """The creator's delegation to this box's key, if the cloud had one (a box that issues)."""
    held = bundle.get(creator)
    return None if held is None else held.delegations.get(box_key_hex)


def encode_bundle(bundle: Mapping[str, Held]) -> bytes:
    """The bundle file's bytes."""
    return cbor2.dumps(
        {c: {1: h.revocations, 2: h.iat, 3: dict(h.delegations)} for c, h in bundle.items()},
        canonical=True,
    )


def decode_bundle(data: bytes) -> dict[str, Held]:
    """The bundle in a file's bytes; PassRefused(malformed) if it is not one."""
    raw: Any = loads(data, "the synced trust file")
    if not isinstance(raw, Mapping):
        raise PassRefused(Reason.MALFORMED, "the synced trust file is a map")
    out: dict[str, Held] = {}
    for creator, entry in raw.items():
        if not isinstance(creator, str) or not isinstance(entry, Mapping):
            raise PassRefused(Reason.MALFORMED, "the synced trust file maps creators to maps")
        revocations, iat, boxes = entry.get(1), entry.get(2, 0), entry.get(3, {})
        if not (
            (revocations is None or isinstance(revocations, bytes))
            and isinstance(iat, int)
            and isinstance(boxes, Mapping)
            and all(isinstance(k, str) and isinstance(v, bytes) for k, v in boxes.items())
        ):
            raise PassRefused(Reason.MALFORMED, f"the synced trust file's entry for {creator}")
        out[creator] = Held(revocations, iat, dict(boxes))
    return out
