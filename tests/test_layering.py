"""DESIGN §2's import rules, checked in a fresh interpreter per package."""

from __future__ import annotations

import ast
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


def loaded_by(package: str, skip: tuple[str, ...] = ()) -> set[str]:
    """Import every module of `package` (but those in `skip`) in a new interpreter; return every
    module then loaded."""
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        f"    if m.name not in {skip!r}:\n"
        "        importlib.import_module(m.name)\n"
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


PLANES = ("appliance.api.attendee", "appliance.api.operator")
SYNC_STARTERS = ("appliance.cli", "appliance.demo", "appliance.demo_stack")


def within(modules: set[str], package: str) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


@pytest.mark.parametrize(("plane", "other"), [PLANES, PLANES[::-1]])
def test_a_plane_never_loads_the_other(plane: str, other: str) -> None:
    """DESIGN §7: the trust boundary is in the tree; what both planes use lives in appliance/api/."""
    assert not within(loaded_by(plane), other)


@pytest.mark.parametrize(("plane", "other"), [PLANES, PLANES[::-1]])
def test_a_plane_never_names_the_other(plane: str, other: str) -> None:
    """The same, for imports inside functions too, which loading the modules does not run."""
    folder = REPO.joinpath(*plane.split("."))
    named = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                named |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                named |= {a.name for a in node.names}
    assert not within(named, other)


def test_the_node_never_loads_sync() -> None:
    """The wire types the relay and the daemon share live below both (appliance/ledger/wire.py);
    only the entry points that start the daemon or the cloud reach into sync/."""
    assert not within(loaded_by("appliance", skip=SYNC_STARTERS), "sync")


# DESIGN §7: handlers stay thin and reach the store only through services; the store's error
# types may be named (handlers map them to 4xx/507). Anything else a handler must still import
# from appliance.store goes here as (file, dotted name), each with a comment saying why; today
# nothing does (the last, FlagDecision, moved below the store to appliance/flags/canary.py).
STORE_NAMES_ALLOWED: set[tuple[str, str]] = set()


def store_names(folder: Path) -> set[tuple[str, str]]:
    """Every (file, name) under `folder` that an import statement takes from appliance.store,
    inside functions too; relative imports resolved."""
    found = set()
    for path in folder.rglob("*.py"):
        package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = node.module or ""
                if node.level:
                    module = ".".join([*base, *([module] if module else [])])
                names |= {f"{module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        for name in within(names, "appliance.store"):
            if name != "appliance.store.errors" and not name.startswith("appliance.store.errors."):
                found.add((path.relative_to(REPO).as_posix(), name))
    return found


def test_handlers_reach_the_store_only_through_services() -> None:
    """No module of appliance.api imports appliance.store but its errors (and the list above)."""
    assert not store_names(REPO / "appliance" / "api") - STORE_NAMES_ALLOWED


def test_the_allow_list_holds_only_what_is_still_imported() -> None:
    """An entry moved to a service leaves the list too, so the list says what is left."""
    assert not STORE_NAMES_ALLOWED - store_names(REPO / "appliance" / "api")
