"""Reading a statement file within a size bound, and the record every parser returns.

Every parser reads through read_bounded(), so a wrong file (a disk image, a video) is refused
after `max_bytes` instead of filling memory; and every parser returns a Statement: plain
domain Credit records plus what was skipped, ready for appliance.domain.reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from appliance.domain.credits import Credit
from appliance.domain.errors import MoneyError
from appliance.domain.money import Money
from appliance.statements.errors import StatementError

MAX_BYTES = 32 * 1024 * 1024  # a year of a busy stall's statements is a few MiB


@dataclass(frozen=True, slots=True)
class Statement:
    """The credits (and reversals) one file reported, its format, and how many lines it skipped
    (debits, pending entries) — skipped lines are no evidence either way."""

    file: str
    format: str
    credits: tuple[Credit, ...]
    skipped: int


def read_bounded(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """The bytes of `path`, refusing a file larger than `max_bytes`."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise StatementError(str(path), "", f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise StatementError(str(path), "", f"larger than {max_bytes} bytes; split the export")
    return data


def money(file: str, where: str, text: str, currency: str) -> Money:
    """An amount in major units as Money, or an error naming where it was."""
    try:
        return Money.parse(text, currency)
    except MoneyError as exc:
        raise StatementError(file, where, str(exc)) from exc


def midnight(day: date) -> datetime:
    """A bank's date as the midnight (UTC) that a date-only Credit carries."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
