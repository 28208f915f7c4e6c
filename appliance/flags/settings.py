"""The `[flags]` table of stallbox.toml: whose signed bundles this box trusts, and its canary judge.

Without the table a box runs every flag's default (no keys: no bundle can verify). The keys are
public Ed25519 keys (base64url of the raw 32 bytes, as `stallbox ledger pubkey` prints a device's,
or PEM) by key id; the scope is the creator/event a bundle must be signed for. The judge's
objective here is the box-wide default (docs/flags.md); docs/configuration.md "[flags]" documents
every key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import ConfigError, config_field_error
from appliance.flags.canary import Objective
from appliance.ledger.errors import KeyFileError
from appliance.ledger.identity import parse_public_key

UPSELL_FLAG = "cart-upsell"
MENU_FLAG = "menu-order"  # "catalog" or "popular" (api/attendee/page_variants.py)
DROP_FLAG = "drop-page"  # "countdown-first" or "stock-first"


class RawFlags(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    scope: str
    keys: dict[str, str]
    upsell_flag: str = UPSELL_FLAG
    menu_flag: str = MENU_FLAG
    drop_flag: str = DROP_FLAG
    judge_interval_s: float = 5.0
    deadline_s: float = 3600.0
    latency_p95_ms: float = 300.0
    min_latency_samples: int = 20
    margin: float = 0.02
    alpha: float = 0.05
    min_views: int = 100


@dataclass(frozen=True, slots=True)
class FlagSettings:
    """A validated [flags] table (or the defaults: no keys, so every flag's default variant)."""

    scope: str = ""
    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)
    upsell_flag: str = UPSELL_FLAG
    judge_interval_s: float = 5.0
    deadline_s: float = 3600.0  # a canary has this long from its bundle's arrival to get data
    objective: Objective = field(default_factory=Objective)
    menu_flag: str = MENU_FLAG
    drop_flag: str = DROP_FLAG


def parse_flags(raw: Mapping[str, Any] | None, path: Path | str) -> FlagSettings:
    """Validate the [flags] table (the defaults when there is none); errors name the key."""
    if raw is None:
        return FlagSettings()
    try:
        table = msgspec.convert(raw, type=RawFlags)
    except msgspec.ValidationError as exc:
        raise config_field_error(path, str(exc), "flags") from None
    if not table.scope.strip():
        raise ConfigError(path, "flags.scope", 'must name the creator/event, e.g. "ana/fair-26"')
    if not table.keys:
        raise ConfigError(path, "flags.keys", "give at least one trusted key: { kid = KEY }")
    keys: dict[str, Ed25519PublicKey] = {}
    for kid, text in table.keys.items():
        try:
            keys[kid] = parse_public_key(text)
        except (KeyFileError, ValueError) as exc:
            raise ConfigError(
                path, f"flags.keys.{kid}", f"not an Ed25519 public key: {exc}"
            ) from None
    checks = (
        ("judge_interval_s", table.judge_interval_s, 0.05, 3600.0),
        ("deadline_s", table.deadline_s, 0.1, 30 * 86400.0),
        ("latency_p95_ms", table.latency_p95_ms, 1.0, 60_000.0),
        ("margin", table.margin, 0.0, 1.0),
        ("alpha", table.alpha, 0.0001, 0.5),
    )
    for key, value, low, high in checks:
        if not low <= value <= high:
            raise ConfigError(path, f"flags.{key}", f"{value}: must be {low:.10g}-{high:.10g}")
    for key, count in (
        ("min_latency_samples", table.min_latency_samples),
        ("min_views", table.min_views),
    ):
        if not 1 <= count <= 1_000_000:
            raise ConfigError(path, f"flags.{key}", f"{count}: must be 1-1000000")
    objective = Objective(
        latency_p95_ms=table.latency_p95_ms,
        min_latency_samples=table.min_latency_samples,
        margin=table.margin,
        alpha=table.alpha,
        min_views=table.min_views,
    )
    return FlagSettings(
        table.scope.strip(), keys, table.upsell_flag, table.judge_interval_s, table.deadline_s,
        objective, table.menu_flag, table.drop_flag,
    )  # fmt: skip
