"""The service tests' shared set-up: a real state dir with a real SQLite ledger, and a controllable
clock. conftest.py names the fixtures for pytest; test modules import the rest from here by name
(not from `conftest`: with test folders that are not packages, every conftest.py is a module named
`conftest`, and which one an import finds depended on which folder pytest collected first)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.domain.catalog import Item
from appliance.domain.money import Money
from appliance.services.box import Box, init_state
from appliance.store.orders import sync_catalog

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
CATALOG = [
    Item("pastel", "Pastel", Money(950, "BRL"), 10),
    Item("coffee", "Coffee", Money(600, "BRL"), None),
]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    init_state(tmp_path / "state", "BRL", T0)
    opened = Box.open(tmp_path / "state", "BRL")
    opened.writer.run_sync(lambda conn: sync_catalog(conn, CATALOG))
    yield opened
    opened.close()


def run(coro: object) -> object:
    """Run a coroutine to completion in a fresh event loop."""
    return asyncio.run(coro)  # type: ignore[arg-type]
