"""The statement adapters stay adapters: they never reach the database, the web or the console."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_statements_import_no_store_server_or_console() -> None:
    code = (
        "import json, sys, appliance.statements\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    loaded = set(json.loads(out.stdout))
    forbidden = {"sqlite3", "aiosqlite", "starlette", "uvicorn", "httpx", "zeroconf", "textual"}
    assert not loaded & forbidden
    assert not {
        m
        for m in loaded
        if m.startswith(("appliance.store", "appliance.api", "appliance.services"))
    }
