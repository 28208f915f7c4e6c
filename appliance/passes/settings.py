"""The `[passes]` table: which creators this box trusts, and where their documents are.

Validated once with the rest of the config; every error names its key (`passes.creators.…`).
The documents themselves (the box's delegation, revocation lists) are files in the state dir,
read and verified when the node starts (services/passes.py), so a new revocation list is a
file copied in and a restart, with no config edit.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import ConfigError, config_field_error
from appliance.passes.allowance import Split
from appliance.passes.model import MAX_TEXT
from appliance.passes.products import PassProduct, check_skus, parse_products

_HEX_KEY = re.compile(r"[0-9a-f]{64}")
MAX_BOXES = 64


class RawPasses(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    creators: dict[str, str] = {}  # creator id ("creator:ana") -> raw Ed25519 public key, hex
    delegation: str = ""  # the creator's delegation to this box, a file in the state dir
    revocations: list[str] = []  # signed revocation lists, files in the state dir
    event: str = "event"  # the period an allowance "per event" counts in
    boxes: int = 1  # the creator's boxes at the event: each redeems its share of an allowance
    split: str = "ceil"  # "ceil" or "floor" (appliance/passes/allowance.py)
    products: list[dict[str, Any]] = []  # [[passes.products]]: passes/products.py checks them
    sight_s: float = 3.0  # a peer box unheard this long is out of sight (services/pass_peers.py)


@dataclass(frozen=True, slots=True)
class PassSettings:
    """The validated [passes] table."""

    creators: Mapping[str, bytes] = field(default_factory=dict)  # id -> 32 raw key bytes
    delegation: str = ""
    revocations: tuple[str, ...] = ()
    event: str = "event"
    boxes: int = 1
    split: Split = Split.CEIL
    products: tuple[PassProduct, ...] = ()  # catalogue items that sell a pass (issued here)
    sight_s: float = 3.0


def _state_file(path: Path | str, key: str, name: str) -> str:
    """A file name inside the state dir: relative, no `..`; else ConfigError naming `key`."""
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or ".." in parts:
        raise ConfigError(path, key, f"{name!r}: give a path inside the state dir, like passes/x")
    return name


def parse_passes(
    raw: Mapping[str, Any] | None,
    path: Path | str,
    currency: str = "",
    catalog: Collection[str] | None = None,
) -> PassSettings | None:
    """Validate the [passes] table (None when there is none); errors name the key.

    Pass products are checked against the stall's `currency` and `catalog` skus when given.
    """
    if raw is None:
        return None
    try:
        table = msgspec.convert(raw, type=RawPasses)
    except msgspec.ValidationError as exc:
        raise config_field_error(path, str(exc), "passes") from None
    if not table.creators:
        raise ConfigError(path, "passes.creators", "name at least one creator and its key")
    creators: dict[str, bytes] = {}
    for creator, key in table.creators.items():
        where = f"passes.creators.{creator}"
        if not creator or len(creator) > MAX_TEXT:
            raise ConfigError(path, where, f"a creator id is 1-{MAX_TEXT} characters")
        if not _HEX_KEY.fullmatch(key.lower()):
            raise ConfigError(path, where, "give the raw Ed25519 public key as 64 hex digits")
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(key))
        except ValueError:
            raise ConfigError(path, where, "not an Ed25519 public key") from None
        creators[creator] = bytes.fromhex(key)
    if not table.event or len(table.event) > MAX_TEXT:
        raise ConfigError(path, "passes.event", f"must be 1-{MAX_TEXT} characters")
    if not 1 <= table.boxes <= MAX_BOXES:
        raise ConfigError(path, "passes.boxes", f"must be 1-{MAX_BOXES}")
    if table.split not in {s.value for s in Split}:
        raise ConfigError(path, "passes.split", f'{table.split!r}: "ceil" or "floor"')
    if not 0.5 <= table.sight_s <= 600:
        raise ConfigError(path, "passes.sight_s", "must be 0.5-600 seconds")
    revocations = tuple(
        _state_file(path, f"passes.revocations[{i}]", name)
        for i, name in enumerate(table.revocations)
    )
    delegation = (
        _state_file(path, "passes.delegation", table.delegation) if table.delegation else ""
    )
    products = parse_products(table.products, creators, currency, path)
    if catalog is not None:
        check_skus(products, catalog, path)
    return PassSettings(
        creators, delegation, revocations, table.event, table.boxes, Split(table.split),
        products, table.sight_s,
    )  # fmt: skip
