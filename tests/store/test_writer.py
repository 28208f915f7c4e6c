"""The writer: durable pragmas, migrations, group commit with per-job rollback, append-only receipts."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.store.connection import open_reader, open_sync
from appliance.store.errors import DiskFull, StoreError, WriterClosed
from appliance.store.migrations import MIGRATIONS, schema_version
from appliance.store.writer import Writer


def insert(key: str) -> Callable[[sqlite3.Connection], int]:
    """A job that adds one meta row; its result is the row count."""
    return lambda conn: conn.execute("INSERT INTO meta VALUES (?, 'v')", (key,)).rowcount


def meta_keys(writer: Writer) -> list[str]:
    return writer.run_sync(lambda conn: [r[0] for r in conn.execute("SELECT key FROM meta")])


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer.open(tmp_path / "t.db")
    yield w
    w.close()


def test_every_connection_is_wal_and_full_sync(tmp_path: Path) -> None:
    Writer.open(tmp_path / "t.db").close()
    conn = open_sync(tmp_path / "t.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY: savepoint journals
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("query", "index"),
    [
        # confirm, void and the expiry sweep ask this of every order
        ("SELECT id FROM drop_claims WHERE order_id = 'x'", "drop_claims_by_order"),
        (
            "SELECT id FROM orders WHERE state = 'awaiting_payment' AND updated_at <= 'z'"
            " AND id NOT IN (SELECT order_id FROM drop_claims)",
            "drop_claims_by_order",
        ),
        ("SELECT coalesce(max(number), 0) + 1 FROM orders", "sqlite_autoindex_orders_2"),
    ],
)
def test_hot_queries_use_an_index_not_a_scan(tmp_path: Path, query: str, index: str) -> None:
    Writer.open(tmp_path / "t.db").close()
    conn = open_sync(tmp_path / "t.db")
    try:
        plan = " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}"))
    finally:
        conn.close()
    assert index in plan, plan
    assert "SCAN drop_claims" not in plan and "SCAN orders" not in plan, plan


def test_migrations_run_once_and_forward_only(tmp_path: Path) -> None:
    Writer.open(tmp_path / "t.db").close()
    Writer.open(tmp_path / "t.db").close()
    conn = open_sync(tmp_path / "t.db")
    try:
        assert schema_version(conn) == len(MIGRATIONS)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    finally:
        conn.close()
    with pytest.raises(StoreError, match="newer than this stallbox knows"):
        Writer.open(tmp_path / "t.db")


def test_jobs_of_one_turn_share_a_commit_and_fail_alone(writer: Writer) -> None:

    def fail(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO meta VALUES ('doomed', 'v')")
        raise ValueError("refused")

    async def scenario() -> tuple[int | BaseException, ...]:
        return await asyncio.gather(
            writer.run(insert("a")), writer.run(fail), writer.run(insert("b")),
            return_exceptions=True,
        )  # fmt: skip

    commits_before = writer.commits
    outcomes = asyncio.run(scenario())
    assert outcomes[0] == 1 and outcomes[2] == 1
    assert isinstance(outcomes[1], ValueError)
    assert writer.commits - commits_before == 1
    keys = meta_keys(writer)
    assert "a" in keys and "b" in keys and "doomed" not in keys


def test_a_failing_job_alone_rolls_back_and_the_writer_goes_on(writer: Writer) -> None:
    def fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta VALUES ('doomed', 'v')")
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        writer.run_sync(fail)
    assert (
        writer.run_sync(
            lambda conn: conn.execute("SELECT count(*) FROM meta WHERE key = 'doomed'").fetchone()[
                0
            ]
        )
        == 0
    )
    assert (
        writer.run_sync(lambda conn: conn.execute("INSERT INTO meta VALUES ('ok', 'v')").rowcount)
        == 1
    )


def test_a_storm_is_cut_into_batches(tmp_path: Path) -> None:
    small = Writer.open(tmp_path / "t.db", max_batch=10)

    async def scenario() -> None:
        await asyncio.gather(*(small.run(insert(str(i))) for i in range(35)))

    try:
        before = small.commits
        asyncio.run(scenario())
        assert small.commits - before == 4
    finally:
        small.close()


def test_receipts_are_append_only(writer: Writer) -> None:
    def insert_receipt(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO receipts (seq, line, items, kind, total, created_at)"
            " VALUES (0, 'x', '[]', 'start', 0, 'now')"
        )

    writer.run_sync(insert_receipt)
    for statement in ("UPDATE receipts SET line = 'y'", "DELETE FROM receipts"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            writer.run_sync(lambda conn, s=statement: conn.execute(s))  # type: ignore[misc]


def test_a_closed_writer_refuses_work(tmp_path: Path) -> None:
    w = Writer.open(tmp_path / "t.db")
    w.close()
    with pytest.raises(WriterClosed):
        w.run_sync(lambda conn: None)
    with pytest.raises(WriterClosed):
        asyncio.run(w.run(lambda conn: None))


def test_a_corrupt_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=f"{path}: not a valid SQLite database"):
        Writer.open(path)


def test_a_reader_in_another_connection_sees_commits(writer: Writer) -> None:
    async def scenario() -> list[str]:
        reader = await open_reader(writer.path)
        try:
            await writer.run(lambda conn: conn.execute("INSERT INTO meta VALUES ('k', 'v')"))
            async with reader.execute("SELECT value FROM meta WHERE key = 'k'") as cursor:
                return [row[0] async for row in cursor]
        finally:
            await reader.close()

    assert asyncio.run(scenario()) == ["v"]


def test_a_failed_commit_fails_its_whole_batch_and_the_writer_goes_on(writer: Writer) -> None:

    def dangling(conn: sqlite3.Connection) -> None:
        # a foreign key checked only at COMMIT: the statement passes, the commit fails
        conn.execute("PRAGMA defer_foreign_keys = ON")
        conn.execute(
            "INSERT INTO order_lines (order_id, sku, name, unit_price, qty)"
            " VALUES ('no-such-order', 'x', 'x', 1, 1)"
        )

    async def scenario() -> list[object]:
        jobs = [writer.run(insert("a")), writer.run(dangling), writer.run(insert("b"))]
        return list(await asyncio.gather(*jobs, return_exceptions=True))

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, StoreError) and "write failed" in str(o) for o in outcomes), outcomes
    keys = meta_keys(writer)
    assert "a" not in keys and "b" not in keys  # the batch is all or nothing at its commit
    assert asyncio.run(writer.run(insert("c"))) is not None
    assert "c" in meta_keys(writer)


def test_run_sync_waits_for_a_commit_under_way(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:

    commit = writer._commit

    def slow_commit() -> None:  # a slow disk: the COMMIT is still under way when run_sync comes
        time.sleep(0.2)
        commit()

    monkeypatch.setattr(writer, "_commit", slow_commit)

    async def scenario() -> tuple[list[int], int]:
        # two jobs: a batch with company, whose COMMIT goes to the commit thread
        queued = asyncio.gather(writer.run(insert("loop1")), writer.run(insert("loop2")))
        for _ in range(100):
            if writer._committing is not None:
                break
            await asyncio.sleep(0)
        assert writer._committing is not None
        inline = writer.run_sync(insert("inline"))
        return list(await queued), inline

    assert asyncio.run(scenario()) == ([1, 1], 1)
    keys = meta_keys(writer)
    assert {"loop1", "loop2", "inline"} <= set(keys)


def test_a_lone_job_commits_inline_and_company_goes_to_the_commit_thread(writer: Writer) -> None:
    threads: list[str] = []

    def note_thread(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(
            lambda sql: threads.append(threading.current_thread().name) if sql == "COMMIT" else None
        )

    async def one_then_two() -> None:
        await writer.run(note_thread)
        await asyncio.gather(writer.run(lambda conn: None), writer.run(lambda conn: None))

    asyncio.run(one_then_two())
    assert threads[0] == "MainThread" and threads[1].startswith("sqlite-commit"), threads


def test_a_batch_cancelled_whole_does_not_stall_the_jobs_behind_it(tmp_path: Path) -> None:
    small = Writer.open(tmp_path / "t.db", max_batch=2)

    async def scenario() -> list[int]:
        tasks = [asyncio.ensure_future(small.run(lambda conn: 1)) for _ in range(4)]
        await asyncio.sleep(0)  # the four jobs are queued, the flush not yet run
        tasks[0].cancel()
        tasks[1].cancel()
        return list(await asyncio.wait_for(asyncio.gather(tasks[2], tasks[3]), 5))

    try:
        assert asyncio.run(scenario()) == [1, 1]
    finally:
        small.close()


def test_a_loop_closed_during_a_commit_leaves_the_writer_usable(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = writer._commit

    def slow_commit() -> None:
        time.sleep(0.3)
        commit()

    monkeypatch.setattr(writer, "_commit", slow_commit)

    async def give_up() -> None:
        jobs = asyncio.gather(writer.run(lambda conn: 1), writer.run(lambda conn: 2))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(jobs, 0.05)

    asyncio.run(give_up())  # this loop is closed while the COMMIT is still on the disk
    time.sleep(0.5)
    assert asyncio.run(asyncio.wait_for(writer.run(lambda conn: 3), 5)) == 3


def fill_disk(writer: Writer) -> None:
    """Make the database "full": SQLite's max_page_count gives the SQLITE_FULL an ENOSPC gives."""
    writer.run_sync(
        lambda conn: conn.execute(
            f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}"
        )
    )


def free_disk(writer: Writer) -> None:
    writer.run_sync(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))


def big(key: str) -> Callable[[sqlite3.Connection], int]:
    """A job that needs new pages: it fails on a full disk."""
    return lambda conn: (
        conn.execute("INSERT INTO meta VALUES (?, hex(randomblob(60000)))", (key,)).rowcount
    )


def test_a_full_disk_is_disk_full_and_writes_resume_when_space_returns(writer: Writer) -> None:
    fill_disk(writer)
    with pytest.raises(DiskFull, match="disk is full"):
        asyncio.run(writer.run(big("refused")))
    seen = [writer.full]
    assert asyncio.run(writer.run(lambda conn: 1)) == 1  # a write with no new rows: still full
    seen.append(writer.full)
    free_disk(writer)
    assert asyncio.run(writer.run(big("resumed"))) == 1  # the same connection, no restart
    seen.append(writer.full)
    assert seen == [True, True, False]
    assert "refused" not in meta_keys(writer) and "resumed" in meta_keys(writer)


def test_a_full_disk_in_a_batch_fails_the_whole_batch_as_disk_full(writer: Writer) -> None:
    fill_disk(writer)

    async def scenario() -> list[object]:
        jobs = [writer.run(insert("small")), writer.run(big("big")), writer.run(insert("after"))]
        return list(await asyncio.gather(*jobs, return_exceptions=True))

    # SQLITE_FULL rolls back the whole transaction, not just the statement's savepoint
    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, DiskFull) for o in outcomes), outcomes
    assert not {"small", "big", "after"} & set(meta_keys(writer))


@pytest.mark.parametrize("way", ["through-the-batch", "read"])
def test_a_read_after_a_commit_never_shares_a_failing_batch(writer: Writer, way: str) -> None:
    """The issue-12 bug: a sale committed, then its follow-up read rode in the next batch beside
    a write that hit the full disk, and the sale was answered as failed. `read` is the fix."""
    fill_disk(writer)
    reader = writer.run if way == "through-the-batch" else writer.read

    async def sale_then_read() -> list[object]:
        await writer.run(insert("sale"))  # alone: committed inline
        other = asyncio.ensure_future(writer.run(big("other")))  # another request's write
        count = reader(lambda conn: conn.execute("SELECT count(*) FROM meta").fetchone()[0])
        return list(await asyncio.gather(count, other, return_exceptions=True))

    count, other = asyncio.run(sale_then_read())
    assert isinstance(other, DiskFull)
    assert "sale" in meta_keys(writer)
    if way == "through-the-batch":  # the hazard, kept visible: why reads do not queue
        assert isinstance(count, DiskFull)
    else:
        assert count == len(meta_keys(writer))


def test_a_read_sees_every_commit_already_reported(writer: Writer) -> None:
    async def scenario() -> list[list[str]]:
        seen = []
        for key in ("a", "b", "c"):
            await asyncio.gather(writer.run(insert(key)), writer.run(insert(key + "2")))
            seen.append(
                await writer.read(lambda conn: [r[0] for r in conn.execute("SELECT key FROM meta")])
            )
        return seen

    seen = asyncio.run(scenario())
    assert {"a", "a2"} <= set(seen[0]) and {"c", "c2"} <= set(seen[2])
