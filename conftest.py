"""Suite-wide ordering: test files marked slow run first, so the parallel phase ends together.

`./dev test` runs the parallel phase as `pytest -n 2 --dist loadfile --no-loadscope-reorder`:
xdist hands whole files to its two workers in collection order. Its default order (files with
the most tests first) puts the long e2e files, which hold one or two tests each, at the end,
where one worker can run the last of them alone while the other sits idle. With the files that
hold a `slow` test first, the long ones start at once and the many quick files fill in behind.
Within a file the order is unchanged, so module-scoped fixtures are shared as before.

The serial phase (`pytest -m serial`) runs about twenty tests from a dozen files; importing the
other two hundred files only to deselect their tests took most of a minute on a loaded CI
machine, so under `-m serial` a test file that never says `mark.serial` is not collected.
It lives at the repository's root, not in tests/: mypy sees every conftest.py under tests/ as
one module named `conftest`, and tests/services/ has one already (so mypy's `files` leave this
one out; `mypy --strict conftest.py` passes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

SERIAL_MARK = "mark.serial"  # how a test file marks its tests (or itself) serial


@pytest.hookimpl(trylast=True)  # after -m has deselected: only the tests that will run count
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a test marked slow first; collection order otherwise (a stable sort)."""
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m serial`, skip test files that mark nothing serial (their tests would all be
    deselected); otherwise None, no opinion (False would overrule --ignore and the like)."""
    if config.getoption("markexpr", "") != "serial":
        return None
    name = collection_path.name
    if not (name.startswith("test_") and name.endswith(".py")) or collection_path.is_dir():
        return None
    if SERIAL_MARK in collection_path.read_text(encoding="utf-8"):
        return None
    return True
