"""DESIGN §2's import rules, checked in a fresh interpreter per package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IO_LIBRARIES = {"sqlite3", "aiosqlite", "starlette", "uvicorn", "httpx", "zeroconf", "textual"}
PURE = [
    "appliance.domain",
    "appliance.payments",
    "appliance.ledger",
    "appliance.passes",
    "appliance.flags",
]


def loaded_by(package: str) -> set[str]:
    """Import every module of `package` in a new interpreter; return every module then loaded."""
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    return set(json.loads(out))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_import_no_io_library(package: str) -> None:
    assert not top_level(loaded_by(package)) & IO_LIBRARIES


def test_domain_is_stdlib_only() -> None:
    third_party = {"cryptography", "msgspec", "rfc8785", "qrcode", "PIL", "segno"}
    assert not top_level(loaded_by("appliance.domain")) & third_party


def test_the_console_never_imports_the_store() -> None:
    """The console talks HTTP to the node, so the database keeps one writer."""
    assert not {m for m in loaded_by("tui") if m.startswith("appliance.store")}


def test_sync_never_imports_textual() -> None:
    assert "textual" not in top_level(loaded_by("sync"))
