"""Why a pass, a delegation or a revocation list was refused."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """The reason a verifier gives; stable strings, shown to the vendor and logged."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNDELEGATED = "undelegated"
    WRONG_ISSUER = "wrong_issuer"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


class PassError(Exception):
    """Base of every pass error."""


class PassRefused(PassError):
    """A pass (or a trust document) did not verify; `reason` says why, the message says where."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class Base45Error(PassError):
    """Text that is not Base45 (RFC 9285)."""
