"""Issue #7's first acceptance point: the headless demo runs the whole box and the cloud keeps up."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from nodeproc import REPO, run_cli


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_headless_demo_ends_with_the_cloud_at_the_device_head() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "demo", "--headless", "--duration", "30"],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=240,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"cloud head seq (\d+) equals device seq (\d+)", done.stdout)
    assert match and match[1] == match[2] and int(match[1]) > 20, done.stdout
    assert re.search(r"(\d+) menu sales and (\d+) drop claims", done.stdout)


def test_demo_refuses_a_bad_duration() -> None:
    done = run_cli("demo", "--headless", "--duration", "0")
    assert done.returncode == 2 and "--duration" in done.stderr
