"""systemd integration: real notify socket, and the unit files as systemd-analyze sees them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from nodeproc import REPO, start_node

UNITS = sorted((REPO / "systemd").glob("*.service"))


def receive(sock: socket.socket, wanted: str, deadline_s: float) -> tuple[str, float]:
    """Read datagrams until one holds `wanted`; return it and when it came."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            break
        if wanted in message.split("\n"):
            return message, time.monotonic()
    raise AssertionError(f"no {wanted} within {deadline_s} s")


@pytest.mark.serial  # times the watchdog to a tenth of a second
def test_ready_after_bind_watchdog_at_half_interval_and_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        node = start_node(tmp_path / "state", NOTIFY_SOCKET=str(path), WATCHDOG_USEC="1000000")
        try:
            message, _ = receive(sock, "READY=1", 10)
            assert "STATUS=serving; outbox 1 receipt(s)" in message
            where = urlsplit(node.url)
            with socket.create_connection((where.hostname, where.port), timeout=2):
                pass  # READY came only once the port accepts connections
            _, first = receive(sock, "WATCHDOG=1", 2)
            _, second = receive(sock, "WATCHDOG=1", 2)
            assert 0.3 < second - first < 0.8  # half of WATCHDOG_USEC = 0.5 s
            node.process.send_signal(15)
            receive(sock, "STOPPING=1", 5)
            assert node.process.wait(5) == 0
        finally:
            if node.process.poll() is None:
                node.process.kill()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_verify_with_no_output_at_all(unit: Path, tmp_path: Path) -> None:
    """systemd-analyze verify exits 0 on typos, so any output at all is a failure."""
    stallbox = Path(sys.executable).parent / "stallbox"  # the venv running the tests
    text = unit.read_text().replace("/opt/stallbox/venv/bin/stallbox", str(stallbox))
    local = tmp_path / unit.name
    local.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout + result.stderr == ""


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_expose_at_most_2(unit: Path) -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    line = next(ln for ln in result.stdout.splitlines() if "Overall exposure level" in ln)
    exposure = float(line.split(":")[1].split()[0])
    assert exposure <= 2.0, line


@pytest.mark.serial  # the watchdog's first ping within 2 s
def test_sync_daemon_is_ready_offline_and_stops_cleanly(tmp_path: Path) -> None:
    """The sync unit must start with no network and no cloud: READY at once, STOPPING on TERM."""
    path = tmp_path / "notify.sock"
    state = tmp_path / "state"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        start_node(state).stop()  # an initialised box, never enrolled with a cloud
        daemon = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", "sync", "--state", str(state)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "NOTIFY_SOCKET": str(path),
                           "WATCHDOG_USEC": "1000000"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            message, _ = receive(sock, "READY=1", 10)
            assert "STATUS=outbox 1, acked seq -1" in message
            receive(sock, "WATCHDOG=1", 2)
            daemon.send_signal(15)
            receive(sock, "STOPPING=1", 5)
            assert daemon.wait(5) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
