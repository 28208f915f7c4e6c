"""On a slow card a lone sale's COMMIT leaves the event loop free; on a quick disk it stays inline.

The card is the power-cut tests' FUSE filesystem with an SD card's fsync delay (5 ms), as
bench/pi.py mounts it; appliance/store/writer.py says why (INLINE_COMMIT_MAX_S).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
import uuid
from pathlib import Path

from lossymount import LossyMount, skip_without_fuse

from appliance.store.writer import INLINE_COMMIT_MAX_S, Writer


def commit_threads(writer: Writer, lone_jobs: int) -> list[str]:
    """The thread each COMMIT ran on, for `lone_jobs` jobs run one after another."""
    threads: list[str] = []

    def note(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(
            lambda sql: threads.append(threading.current_thread().name) if sql == "COMMIT" else None
        )
        add(conn, -1)

    def add(conn: sqlite3.Connection, n: int) -> None:
        conn.execute("INSERT INTO meta VALUES (?, '')", (f"{n}-{uuid.uuid4()}",))

    async def scenario() -> None:
        await writer.run(note)
        for n in range(lone_jobs - 1):
            await writer.run(functools.partial(add, n=n))

    asyncio.run(scenario())
    return threads


def test_on_a_slow_card_a_lone_job_commits_in_the_commit_thread(tmp_path: Path) -> None:
    skip_without_fuse()
    card = LossyMount.start(tmp_path / "disk", tmp_path / "card", fsync_delay_ms=5)
    try:
        writer = Writer.open(card.path / "t.db")
        try:
            threads = commit_threads(writer, 4)
            assert writer.commit_s >= INLINE_COMMIT_MAX_S
        finally:
            writer.close()
    finally:
        card.unmount()
    assert threads[0] == "MainThread", threads  # nothing measured yet: the first one waits
    assert all(name.startswith("sqlite-commit") for name in threads[1:]), threads


def test_the_last_commit_decides_where_a_lone_job_commits(tmp_path: Path) -> None:
    writer = Writer.open(tmp_path / "t.db")
    try:
        writer.commit_s = INLINE_COMMIT_MAX_S  # as after a slow COMMIT
        slow = commit_threads(writer, 1)
        writer.commit_s = 0.0  # as after a quick one
        quick = commit_threads(writer, 1)
    finally:
        writer.close()
    assert slow[0].startswith("sqlite-commit") and quick == ["MainThread"], (slow, quick)
