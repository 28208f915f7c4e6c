"""The console's process imports neither httpx nor its command line (click, pygments' lexers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import tui.app
import httpx
loaded = sorted(m for m in ("click", "pygments.lexers", "rich.syntax", "rich.progress")
                if m in sys.modules)
print(json.dumps({"loaded": loaded, "client": httpx.AsyncClient.__name__}))
"""


def test_console_import_skips_httpx_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"loaded": [], "client": "AsyncClient"}


NO_HTTPX = """
import json, sys
import tui.app, tui.screens.sell, tui.screens.pay
print(json.dumps(sorted(m for m in ("httpx", "httpcore", "anyio", "h11") if m in sys.modules)))
"""


def test_console_import_loads_no_httpx() -> None:
    """The console talks to the node through tui/keepalive.py: httpx, httpcore, anyio and h11
    (~0.1 s of start CPU here, ~0.7 s on a Pi 4) stay out of its process."""
    done = subprocess.run(
        [sys.executable, "-c", NO_HTTPX], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_httpx_cli_stand_in_says_why() -> None:
    import tui

    with pytest.raises(SystemExit, match="command line"):
        tui._httpx_cli_unavailable()
