"""The console's process does not import httpx's command line (click, pygments' lexers)."""

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


def test_httpx_cli_stand_in_says_why() -> None:
    import tui

    with pytest.raises(SystemExit, match="command line"):
        tui._httpx_cli_unavailable()
