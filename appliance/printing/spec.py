"""`[printer] device`: the one string that says where the receipt printer is, parsed.

Kept apart from device.py so the config can check it without importing python-escpos.

    usb:04b8:0202            vendor and product id (hex), from `lsusb`
    serial:/dev/ttyUSB0      a serial port, 9600 baud; serial:/dev/rfcomm0:115200 for Bluetooth
    network:192.168.1.50     a network printer on port 9100 (network:HOST:PORT for another)
    file:/dev/usb/lp0        a character device the kernel's usblp driver made
"""

from __future__ import annotations

import re
from pathlib import Path

from appliance.printing.errors import DeviceSpecError

FORMS = "usb:VVVV:PPPP, serial:/dev/PATH[:BAUD], network:HOST[:PORT] or file:/dev/PATH"
NETWORK = re.compile(r"([\w.-]+|\[[0-9a-fA-F:]+\])(?::([0-9]{1,5}))?")


def check_spec(spec: str, path: Path | str = "stallbox.toml") -> str:
    """Validate a `[printer] device` string ("" for none); raise naming the key."""
    if spec == "" or parse_spec(spec) is not None:
        return spec
    raise DeviceSpecError(path, "printer.device", f"{spec!r}: use {FORMS}")


def parse_spec(spec: str) -> tuple[str, tuple[str, ...]] | None:
    """(kind, arguments) of a device string, or None if it is none of the known forms."""
    kind, _, rest = spec.partition(":")
    if kind == "usb" and re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", rest):
        return kind, tuple(rest.split(":"))
    if kind == "serial" and (m := re.fullmatch(r"(/dev/[\w./-]+?)(?::([0-9]{3,7}))?", rest)):
        return kind, (m[1], m[2] or "9600")
    if kind == "network" and (m := NETWORK.fullmatch(rest)):
        return kind, (m[1].strip("[]"), m[2] or "9100")
    if kind == "file" and re.fullmatch(r"/[\w./-]+", rest):
        return kind, (rest,)
    return None
