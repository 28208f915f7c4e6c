"""Receipt times never go backwards and never precede the build (issue 22): the pure rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.domain.clock import BUILD_DATE, receipt_time

LAST = datetime(2026, 12, 4, 21, 0, 5, tzinfo=UTC)


def test_a_clock_after_the_last_receipt_is_used_as_it_is() -> None:
    now = LAST + timedelta(seconds=1, microseconds=700)
    assert receipt_time(now, LAST) == receipt_time(now, None)
    assert receipt_time(now, LAST).at == LAST + timedelta(seconds=1)
    assert receipt_time(now, LAST).alarm is None
    assert receipt_time(LAST, LAST).alarm is None  # the same second is not backwards


def test_a_clock_behind_the_last_receipt_signs_the_last_time_and_says_so() -> None:
    stamped = receipt_time(LAST - timedelta(hours=1), LAST)
    assert stamped.at == LAST
    assert stamped.alarm is not None and "3600 s behind the last receipt" in stamped.alarm


def test_a_clock_at_1970_signs_the_build_date_or_the_last_receipt() -> None:
    booted = datetime(1970, 1, 1, 0, 0, 42, tzinfo=UTC)
    assert receipt_time(booted, None).at == BUILD_DATE
    assert receipt_time(booted, LAST).at == LAST
    alarm = receipt_time(booted, LAST).alarm
    assert alarm is not None and "before this build" in alarm
