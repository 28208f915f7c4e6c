"""`stallbox print-test`: a page whose raster QR decodes, on a file device; one-line errors."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import zxingcpp
from escpos_parse import parse

REPO = Path(__file__).resolve().parents[2]


def stallbox(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `stallbox ARGS`."""
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
        check=False, cwd=REPO, timeout=60,
    )  # fmt: skip


def test_print_test_writes_a_page_to_the_device(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "printer.bin"
    assert stallbox("init", "--state", str(state)).returncode == 0
    with (state / "stallbox.toml").open("a") as config:
        config.write(f'\n[printer]\ndevice = "file:{out}"\nwidth_mm = 80\n')
    done = stallbox("print-test", "--state", str(state))
    assert done.returncode == 0, done.stderr
    assert "80 mm" in done.stdout
    parsed = parse(out.read_bytes())
    assert [c.text for c in zxingcpp.read_barcodes(parsed.images[0])] == [
        "stallbox print-test 80mm"
    ]


def test_print_test_errors_are_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert stallbox("init", "--state", str(state)).returncode == 0
    none = stallbox("print-test", "--state", str(state))
    assert none.returncode == 1 and "set [printer] device" in none.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    off = stallbox("print-test", "--state", str(state), "--device", f"network:127.0.0.1:{port}")
    assert off.returncode == 1 and len(off.stderr.strip().splitlines()) == 1, off.stderr
    assert "DeviceNotFoundError" in off.stderr
    bad = stallbox("print-test", "--state", str(state), "--device", "lpt1")
    assert bad.returncode == 3 and "printer.device" in bad.stderr
    (state / "stallbox.toml").open("a").write("\n[printer]\nwidth_mm = 76\n")
    wide = stallbox("print-test", "--state", str(state))
    assert wide.returncode == 3 and "printer.width_mm: 76: 58 or 80" in wide.stderr
