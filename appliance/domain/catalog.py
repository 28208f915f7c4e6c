"""Catalogue items: what a stall sells, at what price, and how many are left."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from appliance.domain.errors import CatalogError, OutOfStock
from appliance.domain.money import Money, whole_number

SKU = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
NAME_MAX = 60


@dataclass(frozen=True, slots=True)
class Item:
    """One thing the stall sells; stock None means unlimited."""

    sku: str
    name: str
    price: Money
    stock: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sku, str) or not SKU.fullmatch(self.sku):
            raise CatalogError(f"sku {self.sku!r}: use 1-32 of a-z 0-9 _ -, starting a-z or 0-9")
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > NAME_MAX:
            raise CatalogError(f"{self.sku}: name must be 1-{NAME_MAX} characters")
        price: object = self.price
        if not isinstance(price, Money):
            raise CatalogError(f"{self.sku}: price must be Money, got {price!r}")
        if self.price.minor < 0:
            raise CatalogError(f"{self.sku}: price {self.price} is negative")
        if self.stock is not None and (not whole_number(self.stock) or self.stock < 0):
            raise CatalogError(f"{self.sku}: stock must be 0 or more, or None for unlimited")


def _check_qty(item: Item, qty: int) -> None:
    if not whole_number(qty) or qty <= 0:
        raise CatalogError(f"{item.sku}: quantity must be a positive whole number, got {qty!r}")


def take_stock(item: Item, qty: int) -> Item:
    """Return the item with `qty` fewer units; raise OutOfStock if not enough are left."""
    _check_qty(item, qty)
    if item.stock is None:
        return item
    if item.stock < qty:
        raise OutOfStock(f"{item.sku}: {qty} wanted, {item.stock} left")
    return replace(item, stock=item.stock - qty)


def return_stock(item: Item, qty: int) -> Item:
    """Return the item with `qty` units given back (a void, an expired hold)."""
    _check_qty(item, qty)
    return item if item.stock is None else replace(item, stock=item.stock + qty)
