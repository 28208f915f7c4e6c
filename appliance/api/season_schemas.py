"""Request types of the day-2 operations' routes (close, restock, clock), decoded strictly.

The close report itself is appliance.domain.close.CloseReport (a dataclass msgspec encodes and
describes as it is), so the API, the CLI and the console read one type.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.api.schemas import Name, Note
from appliance.domain.close import CloseReport

StockCount = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


class RestockRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Add `qty` units to an item's stock (mode add), or set it to the count on the shelf (set)."""

    qty: StockCount
    mode: Literal["add", "set"] = "add"
    operator: Name = "console"
    note: Note = ""


class StockMoveOut(msgspec.Struct, frozen=True):
    """One recorded restock."""

    at: str
    sku: str
    delta: int
    stock: int
    operator: str
    note: str


class RevokedOut(msgspec.Struct, frozen=True):
    """Every token before this epoch is refused."""

    epoch: int


SEASON_TYPES: tuple[type, ...] = (
    RestockRequest,
    StockMoveOut,
    CloseReport,
    RevokedOut,
)  # for the OpenAPI
