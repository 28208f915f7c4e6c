"""Receipt times that never go backwards, on a box with no real-time clock.

A Raspberry Pi has no battery clock: booted offline it may think it is 1970, or whatever time
it saved at the last shutdown, until NTP or a person corrects it. A sale must never wait for
that, and a receipt must never carry a time before the receipt it follows (an auditor reading
the chain would see time run backwards). So the time signed is the clock's, unless the clock is
behind the last receipt or before this build was made: then it is the later of those two, and
the box records the alarm for the console. This is the pure rule; appliance/services/box.py
applies it to every receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.domain.errors import DomainError


class ClockError(DomainError):
    """A time the box's clock may not be set to (409 naming `now`)."""


# No receipt of this build can be older: a clock before it is certainly wrong. Raise it with
# each release (it only needs to be no later than the day the build is installed).
BUILD_DATE = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Stamped:
    """The time to sign, and why it is not the clock's (None when it is)."""

    at: datetime
    alarm: str | None


def receipt_time(clock: datetime, last: datetime | None, build: datetime = BUILD_DATE) -> Stamped:
    """The time a receipt signed now carries: the clock's, never before `last` nor `build`."""
    now = clock.astimezone(UTC).replace(microsecond=0)
    floor = max(build, last) if last is not None else build
    if now >= floor:
        return Stamped(now, None)
    behind = int((floor - now).total_seconds())
    if last is not None and floor == last and now >= build:
        why = f"the clock ({now:%Y-%m-%d %H:%M:%S}Z) is {behind} s behind the last receipt"
    else:
        why = f"the clock ({now:%Y-%m-%d %H:%M:%S}Z) is before this build ({build:%Y-%m-%d})"
    return Stamped(floor, f"{why}; receipts carry {floor:%Y-%m-%d %H:%M:%S}Z until it is set")
