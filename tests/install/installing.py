"""install/install-pi.sh run as a new vendor would: what tests/install's two files share.

test_install_pi.py installs into an empty dir (a staged image), test_install_chroot.py into a
real Debian chroot. They are two files so that the parallel phase of `./dev test` runs them on
its two workers at once: each builds the venv with pip, the longest test files of that phase.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tui.vt.font import read_psf

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "install" / "install-pi.sh"
VENV = "/opt/stallbox/venv"
STATE = "/var/lib/stallbox"
FONT = "/opt/stallbox/share/stallbox-console.psf"
NOT_ON_A_BOX = {"stallbox-cloud.service"}
IN_CI = os.environ.get("CI") == "true"
TOOLS = ("systemd-sysusers", "systemd-tmpfiles", "systemctl")


def skip_unless_installable() -> None:
    """Skip the calling test module without root or the systemd tools (never in CI: there a
    missing tool or root is a failure)."""
    if IN_CI:
        return
    if os.geteuid() != 0:
        pytest.skip(
            "install-pi.sh must run as root (it chowns the state dir to the stallbox user)",
            allow_module_level=True,
        )
    if missing := [tool for tool in TOOLS if shutil.which(tool) is None]:
        pytest.skip(f"{', '.join(missing)} not installed", allow_module_level=True)


@dataclass(frozen=True)
class Install:
    """A root dir the script installed into, and what it printed."""

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


def check_console_font(root: Path) -> None:
    """The console unit loads the font the script built, and the font holds the QR's glyphs."""
    unit = (root / "etc/systemd/system/stallbox-console.service").read_text()
    loads = re.findall(r"^ExecStartPre=[-+]*/usr/bin/setfont -C /dev/tty1 (\S+)$", unit, re.M)
    assert loads == [FONT], "the console unit does not load the console font with setfont"
    font = read_psf((root / FONT.lstrip("/")).read_bytes())
    assert {"▀", "▄", "█", "✔", "⏎", "▔"} <= font.chars
    assert len(font.glyphs) <= 512 and (font.width, font.height) == (8, 16)
