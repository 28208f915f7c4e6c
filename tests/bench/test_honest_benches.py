"""The benches cannot lie: a missing tool is an error naming its package, not a smaller figure.

Issue 18: bench/node.py without wrk used to fall back to an httpx load generator and report
164 req/s and 0 claims/s with exit code 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the benches are scripts beside the packages, not installed

from bench.honest import (  # noqa: E402
    Exit,
    MissingTool,
    Unmeasured,
    as_installed,
    median,
    require,
    require_fuse,
)
from bench.wrk import wrk  # noqa: E402


def test_node_bench_without_wrk_exits_naming_the_package(tmp_path: Path) -> None:
    """With no wrk on PATH the bench stops at once, non-zero, and says what to install."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "node.py"), "--seconds", "1", "--rounds", "1"],
        env={**os.environ, "PATH": str(tmp_path)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == Exit.MISSING_TOOL, done.stdout + done.stderr
    assert "`wrk`" in done.stderr
    assert "apt-get install wrk" in done.stderr
    assert "./dev bench" in done.stderr
    assert '"bench"' not in done.stdout  # no JSON line: nothing was measured


def test_require_fuse_names_fuse3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """bench/pi.py and bench/checkpoints.py need the card's FUSE mount: without it, say fuse3."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingTool, match="apt-get install fuse3"):
        require_fuse("bench/checkpoints.py")


def test_checkpoints_bench_without_fuse_exits_and_measures_nothing(tmp_path: Path) -> None:
    """With no fusermount3 on PATH the bench stops at once, non-zero, before any figure."""
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "checkpoints.py"), "--rounds", "1"],
        env={**os.environ, "PATH": str(tmp_path)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == Exit.MISSING_TOOL, done.stdout + done.stderr
    assert "fuse3" in done.stderr
    assert '"bench"' not in done.stdout


def test_require_finds_a_tool_on_path() -> None:
    """A tool that is there is returned as its path."""
    assert Path(require("sh", "dash", "test")).name == "sh"


def test_require_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The error names the Debian package, which may differ from the tool."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingTool, match="Debian package `procps`"):
        require("ps", "procps", "test")


def test_a_load_run_that_answered_nothing_is_unmeasured(tmp_path: Path) -> None:
    """wrk against a closed port answers no request: Unmeasured, not 0 req/s."""
    if not (Path("/usr/bin/wrk").exists() or any(
        (Path(d) / "wrk").exists() for d in os.environ.get("PATH", "").split(os.pathsep)
    )):  # fmt: skip
        pytest.skip("wrk is not installed (./dev bench installs it)")
    with pytest.raises(Unmeasured):
        wrk("http://127.0.0.1:9/", seconds=1, connections=2, threads=1, bench="test")


def test_no_rounds_is_unmeasured() -> None:
    """The median of no round is an error, not 0."""
    with pytest.raises(Unmeasured):
        median([])
    assert median([3.0, 1.0, 2.0]) == 2.0


def test_quota_for_a_pi4_share_keeps_a_short_period() -> None:
    """1/7 of a CPU: 1,429 us per 10 ms; 1/23 needs a longer period (the kernel's 1 ms minimum)."""
    from bench.pi_cpu import quota_for

    assert quota_for(1 / 7) == (1429, 10_000)
    quota, period = quota_for(1 / 23)
    assert quota == 1000
    assert abs(quota / period - 1 / 23) < 0.001
    assert quota_for(2.0) == (10_000, 10_000)


def test_as_installed_compiles_the_packages_and_says_when_it_cannot(tmp_path: Path) -> None:
    """The benches start the box from bytecode, as install-pi.sh leaves it, even where
    PYTHONDONTWRITEBYTECODE stops imports writing it; a module that does not compile stops them."""
    for package in ("appliance", "tui", "sync"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "mod.py").write_text("X = 1\n")
    as_installed(tmp_path)
    assert all(
        list((tmp_path / p / "__pycache__").glob("mod.*.pyc")) for p in ("appliance", "tui", "sync")
    )
    (tmp_path / "tui" / "broken.py").write_text("def (:\n")
    with pytest.raises(Unmeasured, match="tui"):
        as_installed(tmp_path)
