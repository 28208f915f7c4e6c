"""What can go wrong with a receipt printer, as errors the node turns into a console alarm."""

from __future__ import annotations

from appliance.errors import ConfigError, StallboxError


class PrinterError(StallboxError):
    """The printer could not print (off, unplugged, out of paper, refused the connection)."""


class NoPrinter(PrinterError):
    """No printer is configured (`[printer] device` is empty)."""


class DeviceSpecError(ConfigError):
    """`[printer] device` is not one of the forms the node knows; names the key."""


def describe(exc: BaseException) -> str:
    """An exception as one line: its type and message, whitespace folded (python-escpos's
    messages span lines)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
