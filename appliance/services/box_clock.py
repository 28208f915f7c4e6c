"""The box's clock: the system clock plus an offset the vendor set from a console's clock.

A box with no real-time clock and no uplink may boot with the wrong time. The vendor can set it
from the console device (a phone or laptop that knows the time): the node keeps the difference
as an offset for its own life and uses it for every receipt, order and drop. It does not change
the system clock (that needs CAP_SYS_TIME, which the node's unit does not have); NTP or
`timedatectl set-time` fix that for good, and the node then wants no offset (docs/operations.md,
"Clock"). Setting it is recorded in the ledger's meta table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from appliance.domain.clock import BUILD_DATE, ClockError
from appliance.store import ledger as ledger_sql

LATEST = datetime(2100, 1, 1, tzinfo=UTC)
CLOCK_SET = "clock_set"


@dataclass
class BoxClock:
    """`datetime.now(UTC)` plus `offset`; callable, so services take it as their clock."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def set_to(self, when: datetime) -> timedelta:
        """Make the box's time `when` (from now on, as it runs); the offset from the system clock."""
        when = when.astimezone(UTC)
        if not BUILD_DATE <= when < LATEST:
            raise ClockError(f"{when.isoformat()} is not a time this box can be set to "
                             f"({BUILD_DATE:%Y-%m-%d} to {LATEST:%Y-%m-%d})", "now")  # fmt: skip
        self.offset = when - datetime.now(UTC)
        return self.offset


def record_set(before: datetime, after: datetime, by: str) -> Callable[[sqlite3.Connection], None]:
    """A transaction recording who set the clock, from what to what."""

    def tx(conn: sqlite3.Connection) -> None:
        value = {"from": before.isoformat(), "to": after.isoformat(), "by": by}
        ledger_sql.set_meta(conn, CLOCK_SET, json.dumps(value))

    return tx
