"""install/install-pi.sh, run as a new vendor would, into a root dir (no running systemd).

Two roots, the script's two `--root` cases:
- an empty dir (a staged image): systemd-sysusers, systemd-tmpfiles and systemctl get `--root`,
  so the user, the state dir and the enabled units land in DIR as they would on the Pi; the venv
  is built here at DIR/opt/stallbox/venv and relocated to /opt/stallbox/venv;
- a real Debian bookworm chroot (debootstrap minbase, cached as a tarball in
  ~/.cache/stallbox-tests after the first run): the venv is built and `stallbox init` runs inside
  the chroot as the stallbox user, and `stallbox --version` runs there from /usr/local/bin.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance import __version__
from tui.vt.font import read_psf

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "install" / "install-pi.sh"
VENV = "/opt/stallbox/venv"
STATE = "/var/lib/stallbox"
FONT = "/opt/stallbox/share/stallbox-console.psf"
NOT_ON_A_BOX = {"stallbox-cloud.service"}
IN_CI = os.environ.get("CI") == "true"
TOOLS = ("systemd-sysusers", "systemd-tmpfiles", "systemctl")

if not IN_CI:  # in CI nothing here may skip: a missing tool or root is a failure
    if os.geteuid() != 0:
        pytest.skip(
            "install-pi.sh must run as root (it chowns the state dir to the stallbox user)",
            allow_module_level=True,
        )
    if missing := [tool for tool in TOOLS if shutil.which(tool) is None]:
        pytest.skip(f"{', '.join(missing)} not installed", allow_module_level=True)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Install:
    root: Path
    output: str

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def run_install(root: Path, timeout: float = 170) -> str:
    """Run the one command the way docs/install-pi.md says, into `root`; return its stderr+out."""
    env = dict(os.environ, PYTHON=getattr(sys, "_base_executable", sys.executable))
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        ["bash", str(SCRIPT), "--root", str(root), "--no-apt"],
        cwd=root.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def device_id(output: str) -> str:
    found = re.findall(r"; device (\S+)$", output, re.MULTILINE)
    assert len(found) == 1, output
    return str(found[0])


def passwd_entry(root: Path, name: str) -> list[str]:
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    raise AssertionError(f"{name} not in {root}/etc/passwd")


def box_units() -> list[Path]:
    return [u for u in sorted((REPO / "systemd").glob("*.service")) if u.name not in NOT_ON_A_BOX]


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


def check_console_font(root: Path) -> None:
    """The console unit loads the font the script built, and the font holds the QR's glyphs."""
    unit = (root / "etc/systemd/system/stallbox-console.service").read_text()
    loads = re.findall(r"^ExecStartPre=[-+]*/usr/bin/setfont -C /dev/tty1 (\S+)$", unit, re.M)
    assert loads == [FONT], "the console unit does not load the console font with setfont"
    font = read_psf((root / FONT.lstrip("/")).read_bytes())
    assert {"▀", "▄", "█", "✔", "⏎", "▔"} <= font.chars
    assert len(font.glyphs) <= 512 and (font.width, font.height) == (8, 16)


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


# --- a real Debian chroot -------------------------------------------------------------------

DEBIAN_MIRROR = os.environ.get("STALLBOX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_PACKAGES = "python3,python3-venv,ca-certificates"  # what --no-apt leaves to the image


def debian_tarball(scratch: Path) -> Path:
    """A bookworm minbase root as a tarball: built by debootstrap once, then reused."""
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stallbox-tests"
    tarball = cache / f"bookworm-minbase-{arch}.tar"
    if tarball.exists():
        return tarball
    build = scratch / "debootstrap"
    result = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}", "bookworm",
         str(build), DEBIAN_MIRROR],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cache.mkdir(parents=True, exist_ok=True)
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(build), "-cf", str(partial), "."], check=True, timeout=120)
    partial.rename(tarball)
    shutil.rmtree(build, ignore_errors=True)
    return tarball


def in_chroot(root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chroot", str(root), *command], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if shutil.which("debootstrap") is None:
        if IN_CI:
            raise AssertionError("debootstrap not installed (.ci/apt-packages lists it)")
        pytest.skip("debootstrap not installed: no Debian chroot to install into")
    scratch = tmp_path_factory.mktemp("debian")
    root = scratch / "root"
    root.mkdir()
    tarball = debian_tarball(scratch)
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xf", str(tarball)], check=True)
    # The new box trusts what this machine trusts (a TLS-inspecting proxy's CA) and resolves
    # names the same way, so pip inside the chroot reaches the package index.
    shutil.copyfile(
        "/etc/ssl/certs/ca-certificates.crt", root / "etc/ssl/certs/ca-certificates.crt"
    )
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    yield root
    shutil.rmtree(scratch, ignore_errors=True)


def test_install_into_a_debian_chroot_and_run_there(debian_root: Path) -> None:
    output = run_install(debian_root, timeout=200)
    assert f"into {debian_root} (chroot)" in output, output
    version = in_chroot(debian_root, "/usr/local/bin/stallbox", "--version")
    assert version.stdout.strip() == f"stallbox {__version__}", version.stderr
    # the stallbox user (from the image's own passwd) owns and can read its state
    owners = in_chroot(debian_root, "stat", "-c", "%U:%G %a %n", STATE, f"{STATE}/device.key")
    assert owners.stdout.split("\n")[:2] == [
        f"stallbox:stallbox 700 {STATE}",
        f"stallbox:stallbox 600 {STATE}/device.key",
    ], owners.stdout + owners.stderr
    verify = in_chroot(
        debian_root, "runuser", "-u", "stallbox", "--",
        "/usr/local/bin/stallbox", "ledger", "verify", "--state", STATE,
    )  # fmt: skip
    assert verify.returncode == 0 and ": ok, 1 receipts" in verify.stdout, verify.stderr
    for unit in box_units():
        link = debian_root / f"etc/systemd/system/multi-user.target.wants/{unit.name}"
        assert os.readlink(link) == f"/etc/systemd/system/{unit.name}"
    check_console_font(debian_root)  # built by the chroot's own venv
    again = run_install(debian_root, timeout=120)
    assert device_id(again) == device_id(output)
    assert "kept device key, kept ledger, kept config" in again
