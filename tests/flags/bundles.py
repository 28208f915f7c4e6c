"""Signed flag bundles for the tests: docs/flags.md's upsell experiment, and the scope, key id and
[flags] table that make a node trust what a test key signs. One copy for the flag tests in every
folder (pyproject's pytest `pythonpath` puts tests/flags on the path)."""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.flags.bundle import sign_bundle
from appliance.ledger.identity import public_key_text

SCOPE = "ana/fair-26"
KEY_ID = "k1"


def cart_upsell() -> dict[str, Any]:
    """docs/flags.md's example flag: a pastel for R$ 5 offered to half the visitors (a new copy)."""
    return {
        "state": "ENABLED",
        "variants": {"control": None, "pastel": {"sku": "pastel", "price": 500}},
        "defaultVariant": "control",
        "targeting": {"fractional": [["control", 50], ["pastel", 50]]},
    }


def upsell(others: dict[str, Any] | None = None) -> dict[str, Any]:
    """A flags document: the cart upsell, then `others` (flag name: definition)."""
    return {"flags": {"cart-upsell": cart_upsell(), **(others or {})}}


def signed(
    key: Ed25519PrivateKey,
    document: dict[str, Any],
    *,
    issued: int | None = None,
    back_s: int = 10,
    expires_in: int = 3600,
) -> bytes:
    """`document` signed by `key` (as KEY_ID) for SCOPE, valid from `back_s` before `issued` (now)."""
    now = int(time.time()) if issued is None else issued
    return sign_bundle(key, KEY_ID, SCOPE, (now - back_s, now + expires_in), document)


def flags_table(key: Ed25519PrivateKey, **settings: object) -> str:
    """A stallbox.toml [flags] table trusting `key` (as KEY_ID) for SCOPE, with `settings`."""
    lines = [f'scope = "{SCOPE}"', f'keys = {{ {KEY_ID} = "{public_key_text(key.public_key())}" }}']
    lines += [f"{name} = {value}" for name, value in settings.items()]
    return "\n[flags]\n" + "\n".join(lines) + "\n"
