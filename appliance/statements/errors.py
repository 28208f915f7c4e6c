"""The statements package's error tree: every file that cannot be read raises StatementError.

The message always names the file and, where the format has them, the line or the element, so
a vendor (or the CLI that will wrap this) can say what to fix without a traceback.
"""

from __future__ import annotations

from appliance.errors import ExitCode, StallboxError


class StatementError(StallboxError):
    """A statement file cannot be read: too large, not the format, or a field out of place."""

    exit_code = ExitCode.USAGE

    def __init__(self, file: str, where: str, message: str) -> None:
        super().__init__(f"{file}: {where}: {message}" if where else f"{file}: {message}")
        self.file = file
        self.where = where


class ColumnMapError(StatementError):
    """A CSV column map is invalid; `where` names the key."""

    exit_code = ExitCode.CONFIG
