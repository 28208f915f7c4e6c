"""Request types of the day-2 operations' routes (close, restock, clock), decoded strictly.

The close report itself is appliance.domain.close.CloseReport (a dataclass msgspec encodes and
describes as it is), so the API, the CLI and the console read one type.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.api.schemas import STARTS_AT, Name, Note
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


class SetClock(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The console device's time, to set the box's clock from."""

    now: Annotated[str, msgspec.Meta(pattern=STARTS_AT)]
    operator: Name = "console"


class ClockOut(msgspec.Struct, frozen=True, kw_only=True):
    """The box's time (system clock plus offset), the last receipt's, and any alarm."""

    box_time: str
    system_time: str
    offset_s: float
    last_receipt: str | None
    alarm: str | None  # now: the clock is behind the last receipt or before the build date
    last_alarm: str | None  # the last one recorded when a receipt was signed
    alarms: int  # receipts that carried a time other than the clock's


SEASON_TYPES: tuple[type, ...] = (  # for the OpenAPI document
    RestockRequest, StockMoveOut, CloseReport, RevokedOut, SetClock, ClockOut,
)  # fmt: skip
