"""The wire types of the edge flag routes (api/operator/flags_api.py), apart so the console can read them.

The console may import the API's types but nothing that reaches the store (tests/test_layering.py).
"""

from __future__ import annotations

import msgspec


class FlagBundleIn(msgspec.Struct, frozen=True):
    """A signed bundle's wire form (docs/flags.md "Bundles")."""

    payload: str
    kid: str
    sig: str


class BundleOut(msgspec.Struct, frozen=True):
    id: str  # sha256 of the wire form, hex
    scope: str
    issued_at: int
    expires_at: int
    accepted_at: float
    flags: list[str]


class ArmOut(msgspec.Struct, frozen=True):
    flag: str
    variant: str
    control: bool  # the default variant, which the canaries are judged against
    state: str  # "control", "measuring", "off" or "pass"
    reason: str
    views: int
    paid: int
    latency_p95_ms: float | None
    latency_samples: int


class FlagDecisionOut(msgspec.Struct, frozen=True):
    at: str
    bundle: str
    flag: str
    variant: str
    verdict: str
    reason: str
    figures: str  # JSON: both arms' figures when the judge decided


class FlagsOut(msgspec.Struct, frozen=True):
    scope: str  # "" when the box has no [flags] table (every flag's default)
    bundle: BundleOut | None
    arms: list[ArmOut]
    decisions: list[FlagDecisionOut]


TYPES = (FlagBundleIn, FlagsOut)  # in the OpenAPI document's components (api/openapi.py)
