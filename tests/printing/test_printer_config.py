"""`[printer]` keys: the device string's forms, the paper width, errors naming the key."""

from __future__ import annotations

import pytest

from appliance.config import parse_config, sample_config
from appliance.errors import ConfigError
from appliance.printing.spec import parse_spec


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("usb:0416:5011", ("usb", ("0416", "5011"))),
        ("serial:/dev/rfcomm0", ("serial", ("/dev/rfcomm0", "9600"))),
        ("serial:/dev/ttyUSB0:115200", ("serial", ("/dev/ttyUSB0", "115200"))),
        ("network:192.168.1.50", ("network", ("192.168.1.50", "9100"))),
        ("network:[fd00::5]:9101", ("network", ("fd00::5", "9101"))),
        ("file:/dev/usb/lp0", ("file", ("/dev/usb/lp0",))),
        ("usb:416:5011", None),
        ("serial:ttyUSB0", None),
        ("lpt1", None),
        ("network:", None),
    ],
)
def test_device_strings(spec: str, parsed: tuple[str, tuple[str, ...]] | None) -> None:
    assert parse_spec(spec) == parsed


def test_printer_keys_are_read_and_defaulted() -> None:
    assert parse_config(sample_config("BRL")).printer_device == ""
    config = parse_config(
        sample_config("BRL")
        + '\n[printer]\ndevice = "network:10.0.0.9"\nwidth_mm = 80\ncut = false\n'
    )
    assert (config.printer_device, config.printer_width_mm, config.printer_cut) == (
        "network:10.0.0.9", 80, False,
    )  # fmt: skip
    assert config.printer_drawer is True


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('device = "usb:1234"', "printer.device"),
        ("width_mm = 76", "printer.width_mm"),
        ("colour = true", "printer.colour"),
    ],
)
def test_bad_printer_keys_are_named(table: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(sample_config("BRL") + f"\n[printer]\n{table}\n")
    assert caught.value.field == key
