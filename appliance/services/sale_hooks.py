"""What a sale may carry besides goods: the hooks checkout calls (services/pass_sales.py).

Checkout knows nothing of passes; the node gives it an object with these two methods, so a pass
product is refused when it is ordered and its pass issued in the transaction that sells it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Protocol

from appliance.domain.orders import Order


class SaleHooks(Protocol):
    """What a sale may carry besides goods (services/pass_sales.py: a pass product)."""

    def check_line(self, sku: str, now: datetime) -> None:
        """Raise a DomainError naming `sku` when it may not be ordered now."""
        ...

    def on_paid(
        self, conn: sqlite3.Connection, order: Order, now: datetime
    ) -> list[dict[str, str | int]]:
        """Do what paying `order` entails, in its transaction; return more items for its sale."""
        ...
