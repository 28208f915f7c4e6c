"""`stallbox print-test`: a page whose raster QR decodes, on a file device; one-line errors.

Run in process through the CLI's own `main(argv)` (what the `stallbox` script calls)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zxingcpp
from escpos_parse import parse

from appliance.cli import main
from appliance.services.box import init_state


@pytest.fixture
def state(tmp_path: Path) -> Path:
    init_state(tmp_path / "state", "BRL", datetime.now(UTC))
    return tmp_path / "state"


def test_print_test_writes_a_page_to_the_device(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "printer.bin"
    with (state / "stallbox.toml").open("a") as config:
        config.write(f'\n[printer]\ndevice = "file:{out}"\nwidth_mm = 80\n')
    assert main(["print-test", "--state", str(state)]) == 0
    assert "80 mm" in capsys.readouterr().out
    parsed = parse(out.read_bytes())
    found = [c.text for c in zxingcpp.read_barcodes(parsed.images[0])]
    assert found == ["stallbox print-test 80mm"]


def test_print_test_errors_are_one_line(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["print-test", "--state", str(state)]) == 1
    assert "set [printer] device" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["print-test", "--state", str(state), "--device", f"network:127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "DeviceNotFoundError" in err, err
    assert main(["print-test", "--state", str(state), "--device", "lpt1"]) == 3
    assert "printer.device" in capsys.readouterr().err
    with (state / "stallbox.toml").open("a") as config:
        config.write("\n[printer]\nwidth_mm = 76\n")
    assert main(["print-test", "--state", str(state)]) == 3
    assert "printer.width_mm: 76: 58 or 80" in capsys.readouterr().err
