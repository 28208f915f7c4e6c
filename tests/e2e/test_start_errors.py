"""A node that cannot start says why in one line, exits with the documented code, writes nothing.

Real processes: a state dir holding another box's database, a second node (and `init`) on a
state dir a node holds, a busy port, a garbled key, a garbled database, a config with no stall.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodeproc import REPO, NodeProcess, run_cli, start_node

from appliance.errors import ExitCode
from appliance.services.state_dir import LOCK_NAME


def node_cli(state: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`stallbox node` on loopback; it must exit by itself (a node that starts is a failure)."""
    command = [sys.executable, "-m", "appliance.cli", "node", "--state", str(state),
               "--host", "127.0.0.1", "--port", "0", "--no-mdns", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        return subprocess.run(
            command, capture_output=True, text=True, cwd=REPO, env=env, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        raise AssertionError("the node started instead of refusing") from None


def files(state: Path) -> dict[str, str]:
    """Every file of the state dir but the lock, with a hash of its bytes."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(state.iterdir())
        if p.is_file() and p.name != LOCK_NAME
    }


def one_line(result: subprocess.CompletedProcess[str], code: ExitCode, *words: str) -> str:
    """Assert the exit code and a single line on stderr holding `words`; return that line."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("stallbox: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, result.stderr
    return result.stderr


@pytest.fixture
def state(tmp_path: Path) -> Path:
    made = tmp_path / "state"
    assert run_cli("init", "--state", str(made)).returncode == 0
    return made


@pytest.fixture
def running(tmp_path: Path) -> Iterator[NodeProcess]:
    node = start_node(tmp_path / "running")
    yield node
    node.stop()


def test_a_database_from_another_box_is_refused(state: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run_cli("init", "--state", str(other)).returncode == 0
    shutil.copy(other / "stallbox.db", state / "stallbox.db")
    before = files(state)
    result = node_cli(state)
    one_line(result, ExitCode.STATE, f"{state / 'stallbox.db'}: belongs to device", "restore")
    assert files(state) == before
    again = run_cli("init", "--state", str(state))  # init neither adopts nor migrates it
    one_line(again, ExitCode.STATE, "belongs to device")
    assert files(state) == before


def test_a_second_node_and_init_name_the_process_that_holds_the_state(
    running: NodeProcess,
) -> None:
    before = files(running.state)
    holder = f"stallbox node (pid {running.process.pid})"
    second = node_cli(running.state)
    one_line(second, ExitCode.STATE, f"{running.state}: in use by {holder}")
    init = run_cli("init", "--state", str(running.state))
    one_line(init, ExitCode.STATE, holder)
    assert files(running.state) == before
    with running.phone() as client:  # the first node never noticed
        assert client.get("/healthz").status_code == 200
    assert running.stop() == 0
    restarted = start_node(running.state)  # the lock went with the process
    assert restarted.stop() == 0


def test_a_busy_port_is_one_line(state: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        before = files(state)
        result = node_cli(state, "--port", str(port))
    one_line(result, ExitCode.UNAVAILABLE, f"cannot listen on 127.0.0.1:{port}", "in use")
    assert files(state) == before


def test_a_garbled_key_is_one_line_and_debug_shows_the_traceback(state: Path) -> None:
    (state / "device.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n")
    before = files(state)
    one_line(node_cli(state), ExitCode.STATE, f"{state / 'device.key'}")
    debug = node_cli(state, "--debug")
    assert debug.returncode == ExitCode.STATE and "Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1].startswith(f"stallbox: {state / 'device.key'}")
    assert files(state) == before


def test_a_garbled_database_is_one_line(state: Path) -> None:
    (state / "stallbox.db").write_bytes(b"\x00garbage" * 512)
    before = files(state)
    one_line(node_cli(state), ExitCode.STATE, "not a valid SQLite database")
    assert files(state) == before


def test_a_config_without_a_stall_is_refused_naming_the_key(state: Path) -> None:
    config = state / "stallbox.toml"
    config.write_text("")
    one_line(node_cli(state), ExitCode.CONFIG, f"{config}: stall.name: missing")
    config.write_text('[stall]\nname = "Pastel da Ana"\ncurrency = "BRL"\n')
    one_line(node_cli(state), ExitCode.CONFIG, f"{config}: catalog: no items")


def test_a_currency_other_than_the_ledgers_is_refused(state: Path) -> None:
    """One chain has one currency (receipt rule): a node must not sign EUR after BRL."""
    config = state / "stallbox.toml"
    config.write_text(config.read_text().replace('currency = "BRL"', 'currency = "EUR"'))
    assert 'currency = "EUR"' in config.read_text()
    before = files(state)
    one_line(node_cli(state), ExitCode.STATE, "kept in BRL", "stall.currency = 'EUR'")
    assert files(state) == before
