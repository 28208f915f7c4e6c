"""Catalogue items: what a stall sells, at what price, and how many are left."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from appliance.domain.errors import CatalogError, OutOfStock
from appliance.domain.money import Money

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
        if not SKU.fullmatch(self.sku):
            raise CatalogError(f"sku {self.sku!r}: use 1-32 of a-z 0-9 _ -, starting a-z or 0-9")
        if not self.name.strip() or len(self.name) > NAME_MAX:
            raise CatalogError(f"{self.sku}: name must be 1-{NAME_MAX} characters")
        if self.price.minor < 0:
            raise CatalogError(f"{self.sku}: price {self.price} is negative")
        if self.stock is not None and (isinstance(self.stock, bool) or self.stock < 0):
            raise CatalogError(f"{self.sku}: stock must be 0 or more, or None for unlimited")


def take_stock(item: Item, qty: int) -> Item:
    """Return the item with `qty` fewer units; raise OutOfStock if not enough are left."""
    if qty <= 0:
        raise CatalogError(f"{item.sku}: quantity must be positive, got {qty}")
    if item.stock is None:
        return item
    if item.stock < qty:
        raise OutOfStock(f"{item.sku}: {qty} wanted, {item.stock} left")
    return replace(item, stock=item.stock - qty)


def return_stock(item: Item, qty: int) -> Item:
    """Return the item with `qty` units given back (a void, an expired hold)."""
    if qty <= 0:
        raise CatalogError(f"{item.sku}: quantity must be positive, got {qty}")
    return item if item.stock is None else replace(item, stock=item.stock + qty)
