"""The fork server: a forked `stallbox` is the command itself, with its own randomness."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from forkserver import ForkServer


@pytest.fixture(scope="module")
def forks() -> Iterator[ForkServer]:
    server = ForkServer()
    yield server
    server.close()


def test_two_forked_inits_make_two_different_keys(forks: ForkServer, tmp_path: Path) -> None:
    """A forked child must not share the server's random state (the key would repeat)."""
    env = {**os.environ}
    for name in ("a", "b"):
        init = forks.spawn(["init", "--state", str(tmp_path / name)], env)
        assert init.wait(60) == 0, init.stdout.read() if init.stdout else ""
    assert (tmp_path / "a" / "device.key").read_bytes() != (
        tmp_path / "b" / "device.key"
    ).read_bytes()


def test_a_forked_command_reports_its_exit_code_and_output(
    forks: ForkServer, tmp_path: Path
) -> None:
    failed = forks.spawn(["ledger", "verify", "--state", str(tmp_path / "none")], {**os.environ})
    assert failed.wait(60) != 0
    assert failed.stdout is not None and "no device key" in failed.stdout.read()


def test_a_forked_node_can_be_killed(forks: ForkServer, tmp_path: Path) -> None:
    assert forks.spawn(["init", "--state", str(tmp_path / "s")], {**os.environ}).wait(60) == 0
    args = ["node", "--state", str(tmp_path / "s"), "--host", "127.0.0.1", "--port", "0"]
    args += ["--operator-port", "0", "--no-mdns", "--config", str(tmp_path / "s" / "stallbox.toml")]
    node = forks.spawn(args, {**os.environ, "RUNTIME_DIRECTORY": str(tmp_path)})
    assert node.stdout is not None and "listening on" in node.stdout.readline()
    assert node.poll() is None
    node.kill()
    assert node.wait(10) == -signal.SIGKILL
