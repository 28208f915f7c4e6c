"""What a pass says: its CWT claims (RFC 8392) and entitlements, to and from CBOR maps.

Claim keys: 1 iss, 4 exp, 5 nbf, 6 iat, 7 cti (RFC 8392 §3.1); the pass itself under the
private-use key -65537 (RFC 8392 §9.1: keys below -65536 are for private use). Integer keys keep
the QR small; docs/passes.md lists every one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from appliance.passes.errors import PassRefused, Reason

CLAIM_ISS, CLAIM_EXP, CLAIM_NBF, CLAIM_IAT, CLAIM_CTI = 1, 4, 5, 6, 7
CLAIM_PASS = -65537  # {1: holder, 2: [entitlement, …]}
CLAIM_DELEGATE = -65538  # {1: raw Ed25519 public key of the delegate, 2: its label}
CLAIM_REVOKED = -65539  # [16-byte revocation id, …]
PASS_ID_BYTES = 16
MAX_TEXT = 64
MAX_ITEMS = 32
MAX_ENTITLEMENTS = 16


class Kind(IntEnum):
    """Entitlement kinds, the value of an entitlement's key 1."""

    PERCENT_OFF = 1  # 2: percent 1..100, 3: skus (empty = every item)
    AMOUNT_OFF = 2  # 2: amount in minor units, 3: skus, 4: currency (ISO 4217)
    EARLY_ACCESS = 3  # 2: minutes before a drop's public start, 3: drop ids (empty = every drop)
    ALLOWANCE = 4  # 2: redemptions per period, 3: skus it covers, 5: period


class Period(IntEnum):
    """How often an allowance renews."""

    EVENT = 1
    DAY = 2


@dataclass(frozen=True, slots=True)
class Entitlement:
    """One thing a pass grants; `value` is the percent, amount, minutes or count by kind."""

    kind: Kind
    value: int
    targets: tuple[str, ...] = ()
    currency: str | None = None
    period: Period | None = None

    def to_cbor(self) -> dict[int, Any]:
        """Return the entitlement's CBOR map."""
        out: dict[int, Any] = {1: int(self.kind), 2: self.value, 3: list(self.targets)}
        if self.currency is not None:
            out[4] = self.currency
        if self.period is not None:
            out[5] = int(self.period)
        return out


@dataclass(frozen=True, slots=True)
class Pass:
    """A verified pass: who issued it, to whom, when it is valid and what it grants."""

    pass_id: str  # 32 hex digits of the CWT id
    issuer: str
    holder: str
    valid_from: int  # Unix seconds
    valid_until: int
    issued_at: int
    entitlements: tuple[Entitlement, ...]
    signed_by: str  # hex kid of the signing key: the creator's or a delegated box's

    def claims(self) -> dict[int, Any]:
        """Return the CWT claims map this pass is signed as."""
        return {
            CLAIM_ISS: self.issuer,
            CLAIM_EXP: self.valid_until,
            CLAIM_NBF: self.valid_from,
            CLAIM_IAT: self.issued_at,
            CLAIM_CTI: bytes.fromhex(self.pass_id),
            CLAIM_PASS: {1: self.holder, 2: [e.to_cbor() for e in self.entitlements]},
        }


E = TypeVar("E", bound=IntEnum)


def _enum(cls: type[E], value: object, name: str) -> E:
    if isinstance(value, int) and not isinstance(value, bool) and value in cls._value2member_map_:
        return cls(value)
    raise _bad(f"{name} {value!r} is unknown")


def _bad(detail: str) -> PassRefused:
    return PassRefused(Reason.MALFORMED, detail)


def _int(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(f"{name} must be an integer from {low} to {high}")
    return value


def _text(value: object, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise _bad(f"{name} must be text of 1 to {limit} characters")
    return value


def _targets(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes) or len(value) > MAX_ITEMS:
        raise _bad(f"{name} must be a list of at most {MAX_ITEMS} names")
    return tuple(_text(item, name, 32) for item in value)


def entitlement_from(raw: object) -> Entitlement:
    """Read one entitlement map; raise PassRefused(malformed) naming the bad field."""
    if not isinstance(raw, Mapping):
        raise _bad("an entitlement is a map")
    kind = _enum(Kind, raw.get(1), "entitlement kind")
    limits = {Kind.PERCENT_OFF: 100, Kind.AMOUNT_OFF: 10**9, Kind.EARLY_ACCESS: 7 * 24 * 60}
    value = _int(raw.get(2), f"{kind.name.lower()} value", 1, limits.get(kind, 1000))
    targets = _targets(raw.get(3, []), "targets")
    currency = None
    if kind is Kind.AMOUNT_OFF:
        currency = _text(raw.get(4), "currency", 3)
    period = None
    if kind is Kind.ALLOWANCE:
        period = _enum(Period, raw.get(5), "allowance period")
    return Entitlement(kind, value, targets, currency, period)


def pass_from(claims: object, signed_by: bytes) -> Pass:
    """Read a pass's CWT claims; raise PassRefused(malformed) naming the bad claim."""
    if not isinstance(claims, Mapping):
        raise _bad("the CWT claims are a map")
    cti = claims.get(CLAIM_CTI)
    if not isinstance(cti, bytes) or len(cti) != PASS_ID_BYTES:
        raise _bad(f"cti (7) must be {PASS_ID_BYTES} bytes")
    body = claims.get(CLAIM_PASS)
    if not isinstance(body, Mapping):
        raise _bad(f"the pass claim ({CLAIM_PASS}) is missing")
    raw_entitlements = body.get(2)
    if (
        not isinstance(raw_entitlements, Sequence)
        or not 0 < len(raw_entitlements) <= MAX_ENTITLEMENTS
    ):
        raise _bad(f"a pass grants 1 to {MAX_ENTITLEMENTS} entitlements")
    valid_from = _int(claims.get(CLAIM_NBF), "nbf (5)", 0, 2**40)
    valid_until = _int(claims.get(CLAIM_EXP), "exp (4)", valid_from + 1, 2**40)
    return Pass(
        pass_id=cti.hex(),
        issuer=_text(claims.get(CLAIM_ISS), "iss (1)"),
        holder=_text(body.get(1), "holder"),
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=_int(claims.get(CLAIM_IAT), "iat (6)", 0, 2**40),
        entitlements=tuple(entitlement_from(e) for e in raw_entitlements),
        signed_by=signed_by.hex(),
    )
