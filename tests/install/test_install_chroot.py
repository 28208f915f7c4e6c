"""install/install-pi.sh, run as a new vendor would, into a real Debian chroot.

The script's second `--root` case: a Debian bookworm chroot (debootstrap minbase, cached as a
tarball in ~/.cache/stallbox-tests after the first run); the venv is built and `stallbox init`
runs inside the chroot as the stallbox user, and `stallbox --version` runs there from
/usr/local/bin. (The staged-image case is test_install_pi.py.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from installing import (
    IN_CI,
    STATE,
    box_units,
    check_console_font,
    device_id,
    run_install,
    skip_unless_installable,
)

from appliance import __version__

skip_unless_installable()
pytestmark = pytest.mark.slow


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
