"""The box's clock: the system clock plus an offset the vendor set from a console's clock.

A box with no real-time clock and no uplink may boot with the wrong time. The vendor can set it
from the console device (a phone or laptop that knows the time): the node keeps the difference
from then on (counted on the monotonic clock) for its own life, for every receipt, order and
drop. It does not change the system clock (that needs CAP_SYS_TIME, which the node's unit does
not have); NTP or `timedatectl set-time` fix that for good, and a restart then goes back to
it (docs/operations.md, "Clock"). Setting it is recorded in the ledger's meta table.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from appliance.domain.clock import BUILD_DATE, ClockError
from appliance.services.box import CLOCK_ALARM, CLOCK_ALARMS, Box
from appliance.store import ledger as ledger_sql

LATEST = datetime(2100, 1, 1, tzinfo=UTC)
CLOCK_SET = "clock_set"


@dataclass
class BoxClock:
    """The system clock, or once set, the time set plus the monotonic time since; callable."""

    anchor: tuple[datetime, float] | None = None  # (time set, time.monotonic() then)
    monotonic: Callable[[], float] = field(default=time.monotonic)

    def __call__(self) -> datetime:
        if self.anchor is None:
            return datetime.now(UTC)
        at, then = self.anchor
        return at + timedelta(seconds=self.monotonic() - then)

    @property
    def offset(self) -> timedelta:
        """How far the box's time is from the system clock's (zero until it is set)."""
        return timedelta() if self.anchor is None else self() - datetime.now(UTC)

    def set_to(self, when: datetime) -> timedelta:
        """Make the box's time `when` and let it run from there; the offset from the system clock.

        Counted on the monotonic clock, so NTP or `timedatectl` changing the system clock
        afterwards does not move it again; a restart goes back to the system clock.
        """
        when = when.astimezone(UTC)
        if not BUILD_DATE <= when < LATEST:
            raise ClockError(f"{when.isoformat()} is not a time this box can be set to "
                             f"({BUILD_DATE:%Y-%m-%d} to {LATEST:%Y-%m-%d})", "now")  # fmt: skip
        self.anchor = (when, self.monotonic())
        return self.offset


def record_set(before: datetime, after: datetime, by: str) -> Callable[[sqlite3.Connection], None]:
    """A transaction recording who set the clock, from what to what."""

    def tx(conn: sqlite3.Connection) -> None:
        value = {"from": before.isoformat(), "to": after.isoformat(), "by": by}
        ledger_sql.set_meta(conn, CLOCK_SET, json.dumps(value))

    return tx


async def recorded_alarms(box: Box) -> tuple[datetime | None, str | None, int]:
    """The last receipt's time, the last clock alarm recorded and how many receipts had one."""
    return await box.writer.read(_recorded)


def _recorded(conn: sqlite3.Connection) -> tuple[datetime | None, str | None, int]:
    _, last = ledger_sql.chain_head_and_time(conn)
    stored = ledger_sql.get_meta(conn, CLOCK_ALARM)
    alarm = str(json.loads(stored)["alarm"]) if stored else None
    return last, alarm, int(ledger_sql.get_meta(conn, CLOCK_ALARMS) or 0)
