"""install/install-pi.sh, run as a new vendor would, into an empty root dir (no running systemd).

The script's first `--root` case, a staged image: systemd-sysusers, systemd-tmpfiles and
systemctl get `--root`, so the user, the state dir and the enabled units land in DIR as they
would on the Pi; the venv is built here at DIR/opt/stallbox/venv and relocated to
/opt/stallbox/venv. The second case, a real Debian chroot, is test_install_chroot.py.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator

import pytest
from installing import (
    FONT,
    IN_CI,
    NOT_ON_A_BOX,
    SCRIPT,
    STATE,
    VENV,
    Install,
    box_units,
    check_console_font,
    device_id,
    passwd_entry,
    run_install,
    skip_unless_installable,
)

from appliance import __version__

skip_unless_installable()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    root = tmp_path_factory.mktemp("box") / "root"
    yield Install(root, run_install(root))
    shutil.rmtree(root, ignore_errors=True)


def test_the_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        if IN_CI:
            raise AssertionError("shellcheck not installed (.ci/apt-packages lists it)")
        pytest.skip("shellcheck not installed")
    result = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_units_are_installed_and_enabled(installed: Install) -> None:
    units = box_units()
    assert "stallbox-node.service" in {u.name for u in units}
    for unit in units:
        placed = installed.at(f"/etc/systemd/system/{unit.name}")
        assert placed.read_text() == unit.read_text()
        wanted_by = re.findall(r"^WantedBy=(.+)$", unit.read_text(), re.MULTILINE)
        assert wanted_by, f"{unit.name} has no [Install] WantedBy="
        for target in " ".join(wanted_by).split():
            link = installed.at(f"/etc/systemd/system/{target}.wants/{unit.name}")
            assert link.is_symlink(), f"{unit.name} not enabled for {target}"
            assert os.readlink(link) == f"/etc/systemd/system/{unit.name}"
    for name in NOT_ON_A_BOX:
        assert not installed.at(f"/etc/systemd/system/{name}").exists()
    assert installed.at("/usr/lib/sysusers.d/stallbox.conf").is_file()
    assert installed.at("/usr/lib/tmpfiles.d/stallbox.conf").is_file()


def test_the_console_unit_loads_the_built_font(installed: Install) -> None:
    check_console_font(installed.root)
    assert stat.S_IMODE(installed.at(FONT).stat().st_mode) == 0o644


def test_the_stallbox_user_and_its_private_state_dir(installed: Install) -> None:
    _, _, uid, gid, _, home, shell = passwd_entry(installed.root, "stallbox")
    assert home == STATE and shell.endswith("nologin")
    assert int(uid) != 0
    state = installed.at(STATE)
    info = state.stat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert (info.st_uid, info.st_gid) == (int(uid), int(gid))
    for item in ("device.key", "stallbox.db", "stallbox.toml"):
        assert (state / item).stat().st_uid == int(uid), item
    key = (state / "device.key").stat()
    assert stat.S_IMODE(key.st_mode) == 0o600


def test_the_venv_runs_stallbox_version_from_its_final_path(installed: Install) -> None:
    venv = installed.at(VENV)
    script = venv / "bin" / "stallbox"
    assert script.read_text().splitlines()[0] == f"#!{VENV}/bin/python"
    link = installed.at("/usr/local/bin/stallbox")
    assert os.readlink(link) == f"{VENV}/bin/stallbox"
    assert f"into {installed.root} (staging)" in installed.output, installed.output
    assert str(installed.root) not in (venv / "pyvenv.cfg").read_text()
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(script), "--version"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"stallbox {__version__}"


def test_the_docs_the_units_point_at_are_installed(installed: Install) -> None:
    for unit in box_units():
        for url in re.findall(r"^Documentation=file://(\S+)$", unit.read_text(), re.MULTILINE):
            assert installed.at(url).is_file(), f"{unit.name}: {url}"


def test_a_second_run_keeps_the_key_the_ledger_and_the_device(installed: Install) -> None:
    state = installed.at(STATE)
    key_before = (state / "device.key").read_bytes()
    first = device_id(installed.output)
    again = run_install(installed.root)
    assert device_id(again) == first
    assert "kept device key, kept ledger, kept config" in again
    assert (state / "device.key").read_bytes() == key_before
    assert stat.S_IMODE((state / "device.key").stat().st_mode) == 0o600
    _, _, uid, _, _, _, _ = passwd_entry(installed.root, "stallbox")
    assert (state / "stallbox.db").stat().st_uid == int(uid)
    users = (installed.root / "etc" / "passwd").read_text().splitlines()
    assert sum(ln.startswith("stallbox:") for ln in users) == 1
