"""Opening the configured printer: USB, serial (Bluetooth through its RFCOMM device), network.

A printer is opened for each job and closed after it, so one unplugged and plugged back in
prints the next receipt without a restart. The device string's forms are in spec.py.
"""

from __future__ import annotations

from collections.abc import Callable

from escpos.escpos import Escpos

from appliance.printing.errors import DeviceSpecError
from appliance.printing.spec import FORMS, parse_spec

Opener = Callable[[], Escpos]


def opener(spec: str, profile: str, timeout_s: float = 5.0) -> Opener:
    """A function that opens the printer `spec` names (raising when it cannot be reached)."""
    parsed = parse_spec(spec)
    if parsed is None:
        raise DeviceSpecError("stallbox.toml", "printer.device", f"{spec!r}: use {FORMS}")
    kind, args = parsed

    def open_printer() -> Escpos:
        if kind == "usb":
            from escpos.printer import Usb

            ms = int(timeout_s * 1000)
            return Usb(int(args[0], 16), int(args[1], 16), timeout=ms, profile=profile)
        if kind == "serial":
            from escpos.printer import Serial

            return Serial(args[0], baudrate=int(args[1]), timeout=timeout_s, profile=profile)
        if kind == "network":
            from escpos.printer import Network

            return Network(args[0], port=int(args[1]), timeout=timeout_s, profile=profile)
        from escpos.printer import File

        return File(args[0], profile=profile)

    return open_printer
