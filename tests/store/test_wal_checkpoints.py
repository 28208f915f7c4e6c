"""The WAL's checkpoints: never in the writer's commits while the checkpointer runs, always off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.store.checkpoint import BACKSTOP_PAGES, Checkpointer
from appliance.store.connection import open_sync
from appliance.store.writer import Writer

PAGES = 1_200  # past SQLite's default autocheckpoint (1,000 pages), short of the backstop


def fill(key: int) -> Callable[[sqlite3.Connection], sqlite3.Cursor]:
    """A job that adds a row of about one 4 KiB page to meta."""
    return lambda conn: conn.execute("INSERT INTO meta VALUES (?, ?)", (f"k{key}", "x" * 4000))


def database_pages(path: Path) -> int:
    """Pages in the database file itself (what a checkpoint has copied there), not in the log."""
    return path.stat().st_size // 4096


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer.open(tmp_path / "t.db")
    yield w
    w.close()


def commit_pages(writer: Writer, checkpointer: Checkpointer | None) -> int:
    """Database-file pages after PAGES one-page commits, each a lone job (committed inline)."""

    async def scenario() -> None:
        if checkpointer is not None:
            await checkpointer.take_over()
        for n in range(PAGES):
            await writer.run(fill(n))

    asyncio.run(scenario())
    return database_pages(writer.path)


def test_the_writer_checkpoints_in_its_commits_by_default(writer: Writer) -> None:
    before = database_pages(writer.path)
    assert commit_pages(writer, None) > before + 500  # SQLite's own: inside some sale's COMMIT


def test_taken_over_the_writers_commits_leave_the_database_file_alone(writer: Writer) -> None:
    checkpointer = Checkpointer(writer)
    try:
        before = database_pages(writer.path)
        assert commit_pages(writer, checkpointer) == before  # every page still only in the log
        autocheckpoint = writer.run_sync(
            lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        )
        assert autocheckpoint == BACKSTOP_PAGES
    finally:
        checkpointer.close()


def test_a_checkpoint_copies_the_log_from_its_own_thread(writer: Writer) -> None:
    checkpointer = Checkpointer(writer)
    threads: list[str] = []
    try:
        before = database_pages(writer.path)
        commit_pages(writer, checkpointer)

        async def one() -> tuple[int, int, int]:
            return await checkpointer.checkpoint()

        checkpointer._thread.submit(  # trace the checkpointer's statements: on which thread
            lambda: checkpointer._checkpoint()
        ).result()
        assert checkpointer._conn is not None
        checkpointer._conn.set_trace_callback(
            lambda _: threads.append(threading.current_thread().name)
        )
        busy, logged, copied = asyncio.run(one())
        assert busy == 0 and copied == logged
        assert database_pages(writer.path) > before + PAGES - 10  # every row now in the file
        assert threads and all(name.startswith("sqlite-checkpoint") for name in threads)
    finally:
        checkpointer.close()


def test_the_run_checkpoints_only_after_commits(writer: Writer) -> None:
    checkpointer = Checkpointer(writer, every_s=0.01)

    async def scenario() -> tuple[int, int]:
        task = asyncio.create_task(checkpointer.run())
        try:
            await writer.run(fill(1))
            for _ in range(500):  # deadline 5 s
                if checkpointer.passes:
                    break
                await asyncio.sleep(0.01)
            after_commit = checkpointer.passes
            await asyncio.sleep(0.2)  # twenty periods without a commit: no pass
            return after_commit, checkpointer.passes
        finally:
            task.cancel()

    try:
        after_commit, later = asyncio.run(scenario())
    finally:
        checkpointer.close()
    assert after_commit == 1
    assert later == 1


def test_rows_committed_beside_checkpoints_all_survive(tmp_path: Path) -> None:
    writer = Writer.open(tmp_path / "t.db")
    checkpointer = Checkpointer(writer, every_s=0.005)

    async def scenario() -> None:
        task = asyncio.create_task(checkpointer.run())
        try:
            await asyncio.gather(*(writer.run(fill(n)) for n in range(300)))
            for n in range(300, 600):
                await writer.run(fill(n))
        finally:
            task.cancel()

    try:
        asyncio.run(scenario())
        assert checkpointer.passes >= 1
    finally:
        checkpointer.close()
        writer.close()
    conn: sqlite3.Connection = open_sync(tmp_path / "t.db")
    try:
        assert conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'k%'").fetchone()[0] == 600
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
