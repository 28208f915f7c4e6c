"""Each file the box writes outside SQLite survives a power cut right after the write returns.

Every test here failed before appliance/durable.py: the file was fsynced but its name (the
rename over the old one, or the state dir itself) was not, so the cut took it away.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lossymount import LossyMount, disk_names, skip_without_fuse

from appliance.durable import make_dirs, write_atomic
from appliance.ledger.identity import load_key
from appliance.services import pairing
from appliance.services.box import init_state
from appliance.services.cloud_account import CloudAccount, load_account, save_account


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[LossyMount]:
    skip_without_fuse()
    m = LossyMount.start(tmp_path / "disk", tmp_path / "mnt")
    try:
        yield m
    finally:
        m.unmount()


def power_cut(mount: LossyMount) -> Path:
    """Cut, unmount, and return where the surviving bytes are."""
    mount.cut()
    mount.unmount()
    return mount.backing


def test_write_atomic_survives_a_cut_and_leaves_no_temporary(mount: LossyMount) -> None:
    write_atomic(mount.path / "f", b"old")
    write_atomic(mount.path / "f", b"new")
    disk = power_cut(mount)
    assert (disk / "f").read_bytes() == b"new"
    assert disk_names(disk) == ["f"]


def test_make_dirs_survives_a_cut(mount: LossyMount) -> None:
    make_dirs(mount.path / "a" / "b", mode=0o700)
    disk = power_cut(mount)
    assert (disk / "a" / "b").is_dir()
    assert (disk / "a" / "b").stat().st_mode & 0o777 == 0o700


def test_init_survives_a_cut_right_after_it_returns(mount: LossyMount) -> None:
    report = init_state(mount.path / "var" / "state", "BRL", datetime.now(UTC))
    disk = power_cut(mount)
    state = disk / "var" / "state"
    assert load_key(state).key_id == report.device_id
    assert (state / "stallbox.db").stat().st_size > 0
    assert "currency" in (state / "stallbox.toml").read_text()


def test_a_revocation_survives_a_cut(mount: LossyMount) -> None:
    """A revoked console token must stay revoked when the power goes right after."""
    state = mount.path / "state"
    make_dirs(state)
    assert pairing.revoke_all(state) == 1
    disk = power_cut(mount)
    assert pairing._read(disk / "state")["epoch"] == 1


def test_the_cloud_account_survives_a_cut(mount: LossyMount) -> None:
    state = mount.path / "state"
    make_dirs(state)
    account = CloudAccount("https://127.0.0.1:1", "dev", "token", "origin", "key")
    save_account(state, account)
    disk = power_cut(mount)
    assert load_account(disk / "state") == account
    assert os.stat(disk / "state" / "cloud.json").st_mode & 0o777 == 0o600


def test_the_cloud_state_dir_survives_a_cut(mount: LossyMount) -> None:
    from sync.cloud.state import prepare

    prepare(mount.path / "srv" / "cloud")
    disk = power_cut(mount)
    assert (disk / "srv" / "cloud").is_dir()


def test_the_consoles_pins_survive_a_cut(mount: LossyMount) -> None:
    """A pinned key lost to a cut would make the console trust the next key it meets."""
    from tui.state import ConsoleState

    state = ConsoleState(mount.path / "home" / "stallbox" / "console.json")
    state.pin("https://127.0.0.1:8443", "node", "fp", "token")
    disk = power_cut(mount)
    again = ConsoleState(disk / "home" / "stallbox" / "console.json")
    pinned = again.node("https://127.0.0.1:8443")
    assert pinned is not None and pinned.fingerprint == "fp"
