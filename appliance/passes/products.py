"""Pass products: catalogue items that, once paid, become a pass the box issues itself.

`[[passes.products]]` names a `[[catalog]]` item (its price, its stock) and what the pass it
sells grants: the creator it is issued for, how many days it is valid, its entitlements. The
box signs the pass with its own key under the creator's delegation (services/pass_sales.py);
here is only the pure part: the table, checked with errors naming the key, and the pass a sale
of it makes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from appliance.errors import ConfigError, config_field_error
from appliance.passes.errors import PassRefused
from appliance.passes.model import (
    MAX_ENTITLEMENTS,
    MAX_TEXT,
    Entitlement,
    Kind,
    Pass,
    Period,
    entitlement_from,
)

DAY_S = 86_400
MAX_DAYS = 3_660  # ten years: a pass is a subscription, not a deed
MAX_PRODUCTS = 32
KINDS = {
    "percent_off": Kind.PERCENT_OFF,
    "amount_off": Kind.AMOUNT_OFF,
    "early_access": Kind.EARLY_ACCESS,
    "allowance": Kind.ALLOWANCE,
}
PERIODS = {"event": Period.EVENT, "day": Period.DAY}


class RawEntitlement(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    kind: str  # percent_off | amount_off | early_access | allowance
    value: int  # percent, minor units, minutes or redemptions per period
    items: list[str] = []  # skus it covers (drop ids for early_access); empty: every one
    period: str = "event"  # allowance only: "event" or "day"


class RawProduct(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    sku: str  # a [[catalog]] item: what the pass costs and how many may be sold
    creator: str  # a creator of [passes] creators: the pass is theirs, the box signs it
    days: int  # valid from the payment for this many days
    holder: str = ""  # the holder label when the order's note gives none ("" = "Order <n>")
    entitlements: list[RawEntitlement] = []


@dataclass(frozen=True, slots=True)
class PassProduct:
    """A catalogue item that sells a pass: for whom it is issued, for how long, what it grants."""

    sku: str
    creator: str
    days: int
    entitlements: tuple[Entitlement, ...]
    holder: str = ""

    def card(self, pass_id: str, holder: str, now: int) -> Pass:
        """The pass one sale of this product makes, valid from `now` (Unix seconds)."""
        return Pass(
            pass_id=pass_id, issuer=self.creator, holder=holder, valid_from=now,
            valid_until=now + self.days * DAY_S, issued_at=now, entitlements=self.entitlements,
            signed_by="",
        )  # fmt: skip


def holder_label(note: str, default: str, number: int) -> str:
    """The holder label of a sold pass: the order's note (its first line), else the default."""
    first = note.strip().splitlines()[0].strip() if note.strip() else ""
    return (first or default or f"Order {number}")[:MAX_TEXT]


def _entitlement(raw: RawEntitlement, key: str, currency: str, path: object) -> Entitlement:
    kind = KINDS.get(raw.kind)
    if kind is None:
        raise ConfigError(path, f"{key}.kind", f"{raw.kind!r}: one of {', '.join(KINDS)}")
    period = None
    if kind is Kind.ALLOWANCE:
        period = PERIODS.get(raw.period)
        if period is None:
            raise ConfigError(path, f"{key}.period", f'{raw.period!r}: "event" or "day"')
    currency_of = currency if kind is Kind.AMOUNT_OFF else None
    made = Entitlement(kind, raw.value, tuple(raw.items), currency_of, period)
    try:  # the limits a verifier holds a pass to, so a sold pass always verifies
        return entitlement_from(made.to_cbor())
    except PassRefused as exc:
        field = "value" if "value" in exc.detail else "items"
        raise ConfigError(path, f"{key}.{field}", exc.detail) from None


def parse_products(
    raw: Sequence[Mapping[str, Any]], creators: Collection[str], currency: str, path: object
) -> tuple[PassProduct, ...]:
    """Validate `[[passes.products]]`; errors name the key (`passes.products[0].days`)."""
    try:
        table = msgspec.convert(list(raw), type=list[RawProduct])
    except msgspec.ValidationError as exc:
        raise config_field_error(path, str(exc), "passes.products") from None
    if len(table) > MAX_PRODUCTS:
        raise ConfigError(path, "passes.products", f"at most {MAX_PRODUCTS} products")
    products: list[PassProduct] = []
    for i, product in enumerate(table):
        key = f"passes.products[{i}]"
        if any(p.sku == product.sku for p in products):
            raise ConfigError(path, f"{key}.sku", f"{product.sku!r} is listed twice")
        if product.creator not in creators:
            raise ConfigError(path, f"{key}.creator", f"{product.creator!r} is not in creators")
        if not 1 <= product.days <= MAX_DAYS:
            raise ConfigError(path, f"{key}.days", f"must be 1-{MAX_DAYS}")
        if len(product.holder) > MAX_TEXT:
            raise ConfigError(path, f"{key}.holder", f"at most {MAX_TEXT} characters")
        if not 0 < len(product.entitlements) <= MAX_ENTITLEMENTS:
            raise ConfigError(
                path, f"{key}.entitlements", f"a pass grants 1 to {MAX_ENTITLEMENTS} entitlements"
            )
        grants = tuple(
            _entitlement(e, f"{key}.entitlements[{j}]", currency, path)
            for j, e in enumerate(product.entitlements)
        )
        products.append(PassProduct(product.sku, product.creator, product.days, grants,
                                    product.holder.strip()))  # fmt: skip
    return tuple(products)


def check_skus(products: Sequence[PassProduct], catalog: Collection[str], path: object) -> None:
    """Every pass product is a [[catalog]] item (sold like any item); else ConfigError naming it."""
    for i, product in enumerate(products):
        if product.sku not in catalog:
            raise ConfigError(
                path, f"passes.products[{i}].sku", f"{product.sku!r} is no [[catalog]] item"
            )
