"""Writer.run_off_loop: a lone job of a rush commits in the commit thread, never on the loop's."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.store.writer import Writer


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer.open(tmp_path / "t.db")
    yield w
    w.close()


def committed_on(writer: Writer) -> list[str]:
    """Spy on the writer's COMMIT: the names of the threads it ran on, in order."""
    threads: list[str] = []
    commit = writer._commit

    def spied() -> None:
        threads.append(threading.current_thread().name)
        commit()

    writer._commit = spied  # type: ignore[method-assign]
    return threads


def insert(key: str) -> Callable[[sqlite3.Connection], int]:
    return lambda conn: conn.execute("INSERT INTO meta VALUES (?, 'v')", (key,)).rowcount


def test_a_lone_rush_job_commits_off_the_loop_and_is_answered_after_it(writer: Writer) -> None:
    threads = committed_on(writer)

    async def scenario() -> None:
        assert await writer.run(insert("quiet")) == 1  # a lone sale: inline, as before
        assert await writer.run_off_loop(insert("rush")) == 1
        assert writer.commits == 2  # answered once its COMMIT was back

    asyncio.run(scenario())
    loop_thread = threading.current_thread().name
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread and threads[1].startswith("sqlite-commit")
    rows = writer.run_sync(lambda conn: conn.execute("SELECT key FROM meta").fetchall())
    assert {"quiet", "rush"} <= {row[0] for row in rows}


def test_a_rush_job_that_raises_is_rolled_back_alone(writer: Writer) -> None:
    def fails(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta VALUES ('undone', 'v')")
        raise ValueError("refused")

    async def scenario() -> None:
        with pytest.raises(ValueError, match="refused"):
            await writer.run_off_loop(fails)

    asyncio.run(scenario())
    keys = writer.run_sync(lambda conn: [r[0] for r in conn.execute("SELECT key FROM meta")])
    assert "undone" not in keys
