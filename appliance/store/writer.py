"""The one writer: the database's only write connection, driven from the event loop's thread.

Callers hand it a transaction function `fn(conn) -> result`; it runs the function inside
`BEGIN IMMEDIATE … COMMIT` and resolves the caller's future only after the commit is durable.
A sale is therefore one function call, not five awaited statements.

Group commit: every function submitted while the previous commit was on its way runs in the
same transaction, each inside its own SAVEPOINT, so one that raises is rolled back alone while
the rest share a single fsync. Batches are capped so a storm of writes cannot starve readers.

Where it runs: the transaction functions run inline on the loop's thread. A writer thread would
cost a hop there and back for every batch (two wake-ups, ~270 µs on the 2-vCPU VM we build on,
bench/ledger.py), and the functions are CPU work the loop would wait for anyway. The COMMIT is
different: it is mostly the fsync, the loop can do nothing useful inside it, and it was 12% of
the node's time in a drop rush. So when a batch has company (more than one job, or more
waiting), or its job was queued with `run_off_loop` (claims, the node's upkeep), the COMMIT
alone goes to a one-thread executor; while the disk syncs, the loop answers
other requests and the next batch gathers, and only when the commit is back are its callers
told (and the next batch begun). Measured with bench/node.py: 6,000 -> 6,800 claims/s at 200
clients, p99 46 -> 39 ms. A lone sale at a quiet stall commits inline, on a disk whose COMMIT
is quick: there the hop would add ~120 µs to it (bench/ledger.py) and buy nothing. On a slow
one (the last COMMIT took INLINE_COMMIT_MAX_S or more: an SD card's fsync is 1-10 ms) the lone
sale's COMMIT goes to the commit thread too, so the loop answers phones while the card syncs
(on bench/pi.py's card an inline sale held the loop ~6 ms, and an SD card's slow fsyncs far
longer).

Reads do not queue here. A read in a batch shares the batch's fate: if another job's write hits
a full disk, SQLite rolls the whole transaction back and the read fails with it, and what it read
may have included writes that never committed. So `read` runs on a connection of its own, in a
read transaction that sees every commit already reported; a request whose own transaction
committed is never answered as failed because a read after it met someone else's failure.

A full disk (DiskFull) is a state: `full` is set when a write fails for lack of space and
cleared by the next commit that wrote rows; the connection stays usable throughout.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from appliance.store.connection import open_sync
from appliance.store.errors import DiskFull, StoreError, WriterClosed
from appliance.store.migrations import migrate
from appliance.store.storage import is_disk_full, write_error

T = TypeVar("T")
Transaction = Callable[[sqlite3.Connection], T]

log = logging.getLogger(__name__)

MAX_BATCH = 64
INLINE_COMMIT_MAX_S = 0.001  # a lone job commits on the loop only while COMMITs take less


@dataclass(slots=True)
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    inline: bool = True  # may commit on the loop's thread when it is alone (see run_off_loop)


class Writer:
    """Owns the write connection; runs transaction functions in batches, one commit each."""

    def __init__(self, path: Path, conn: sqlite3.Connection, max_batch: int = MAX_BATCH) -> None:
        self.path = path
        self._conn = conn
        self._max_batch = max_batch
        self._pending: list[_Job] = []
        self._flush_scheduled = False
        self._closed = False
        self.commits = 0  # transactions committed, for the tests, benchmarks and /metrics
        self.failures = 0  # batches rolled back whole: what their jobs kept in memory may be wrong
        self._committer = concurrent.futures.ThreadPoolExecutor(1, "sqlite-commit")
        self._committing: concurrent.futures.Future[None] | None = None  # the batch's COMMIT
        self._reader: sqlite3.Connection | None = None  # for `read`, opened at its first use
        self._changes = 0  # conn.total_changes when the batch began: did the commit write rows?
        self.full = False  # the last write failed for lack of space, and none has committed since
        self.commit_s = 0.0  # the last COMMIT's wall time: is the disk quick enough to wait on?

    @classmethod
    def open(cls, path: Path, max_batch: int = MAX_BATCH) -> Writer:
        """Open the database at `path` and migrate it forward."""
        conn = open_sync(path)
        try:
            migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{path}: cannot migrate the schema ({exc})") from None
        return cls(path, conn, max_batch)

    async def run(self, fn: Transaction[T]) -> T:
        """Run `fn` in a write transaction (shared with this turn's others); return once committed."""
        return await self._queue(fn, inline=True)

    async def run_off_loop(self, fn: Transaction[T]) -> T:
        """As `run`, but the COMMIT never runs on the loop's thread, even for a lone job.

        For work no one request is waiting on: a drop's claims (others like them follow) and the
        node's own upkeep (the expiry sweep, the minute's figures, the flag judge, the bank
        watch). Alone in its batch, the job still commits in the commit thread, so the loop goes
        on answering while the disk syncs. Committed inline, a lone claim stopped the loop for a
        whole fsync, and on the Pi harness the sweep that builds a rush's 200 claimed orders held
        the loop ~1 s in its COMMIT, every phone's menu waiting behind it
        (docs/performance/2026-12-05-claims-commits-off-the-loop.md and
        docs/performance/2026-12-05-menu-after-a-rush.md).
        """
        return await self._queue(fn, inline=False)

    def _queue(self, fn: Transaction[T], *, inline: bool) -> asyncio.Future[T]:
        """Queue `fn` for the next batch; its future resolves once the batch's COMMIT is durable."""
        if self._closed:
            raise WriterClosed(f"{self.path}: the writer is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(fn, future, inline))
        self._schedule_flush()
        return future

    async def read(self, fn: Transaction[T]) -> T:
        """Run the read-only `fn` on the read connection, outside every batch; see the docstring."""
        if self._closed:
            raise WriterClosed(f"{self.path}: the writer is closed")
        if self._reader is None:
            self._reader = open_sync(self.path)
            self._reader.execute("PRAGMA query_only = ON")
        conn = self._reader
        try:
            conn.execute("BEGIN")  # one snapshot for all of fn's queries
            try:
                return fn(conn)
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: read failed ({exc})") from None

    def run_sync(self, fn: Transaction[T]) -> T:
        """Run `fn` in its own transaction now, for the CLI and scripts (no event loop)."""
        if self._closed:
            raise WriterClosed(f"{self.path}: the writer is closed")
        if self._committing is not None:
            concurrent.futures.wait([self._committing])  # never two transactions at once
        outcome = self._transaction([fn])[0]
        if isinstance(outcome, _Failed):
            raise outcome.error
        return outcome  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the connection; transactions still queued fail with WriterClosed."""
        if self._closed:
            return
        self._closed = True
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(WriterClosed(f"{self.path}: the writer is closed"))
        self._pending.clear()
        self._committer.shutdown(wait=True)  # a COMMIT under way finishes; its callers are told
        self._conn.close()
        if self._reader is not None:
            self._reader.close()

    def _flush(self, *, busy: bool = False) -> None:
        """Run the next batch; `busy` when called as the previous batch's commit came back."""
        self._flush_scheduled = False
        if self._closed or self._committing is not None:
            return  # _committed flushes again when the COMMIT is back
        batch = [job for job in self._pending[: self._max_batch] if not job.future.cancelled()]
        del self._pending[: self._max_batch]
        if not batch:  # all cancelled: go on with the jobs behind them
            self._schedule_flush()
            return
        # A quiet moment (one job, nobody waiting, no batch just before) on a quick disk: commit
        # here, no hop.
        inline = (
            len(batch) == 1
            and not self._pending
            and not busy
            and batch[0].inline
            and self.commit_s < INLINE_COMMIT_MAX_S  # a quick disk: waiting costs less than the hop
        )
        outcomes = self._transaction([job.fn for job in batch], commit=inline)
        if inline or not self._conn.in_transaction:  # committed, or a lone job rolled back
            self._resolve(batch, outcomes)
            self._schedule_flush()
            return
        loop = asyncio.get_running_loop()

        def back_to_the_loop(done: concurrent.futures.Future[None]) -> None:
            try:
                loop.call_soon_threadsafe(self._committed, batch, outcomes, done)
            except RuntimeError:  # the loop is closed: nobody is left to tell, but go on
                self._committing = None

        self._committing = self._committer.submit(self._commit)
        self._committing.add_done_callback(back_to_the_loop)

    def _commit(self) -> None:
        """COMMIT (in the commit thread when the batch has company); StoreError if it fails."""
        started = time.perf_counter()
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._abort(exc) from None
        self.commit_s = time.perf_counter() - started
        self.commits += 1
        if self.full and self._conn.total_changes != self._changes:
            self.full = False  # rows reached the disk: there is room again
            log.warning("writes to %s succeed again: the disk has room", self.path)

    def _abort(self, exc: Exception) -> StoreError:
        """Roll back what is left of a failed batch, count it, and say what failed."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as again:  # SQLite may have rolled it back itself meanwhile
                log.warning("rollback on %s failed: %s", self.path, again)
        self.failures += 1
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, sqlite3.Error):
            return self._named(exc)
        return StoreError(f"{self.path}: write failed ({exc})")

    def _job_error(self, exc: Exception) -> Exception:
        """What a job's caller is told: DiskFull for a write that found no space, else `exc`."""
        if isinstance(exc, sqlite3.Error) and is_disk_full(exc, self.path.parent):
            return self._named(exc)
        return exc

    def _named(self, exc: sqlite3.Error) -> StoreError:
        """The store error for a failed write (DiskFull when out of space), logged once."""
        error = write_error(self.path, exc)
        if isinstance(error, DiskFull):
            if not self.full:  # one line when the disk fills, not one per refused write
                log.error("%s", error)
            self.full = True
        else:
            log.error("write transaction on %s failed: %s", self.path, exc)
        return error

    def _committed(
        self,
        batch: list[_Job],
        outcomes: list[Any],
        done: concurrent.futures.Future[None],
    ) -> None:
        """Back on the loop: tell the batch's callers, and begin the next batch at once.

        At once, not at the next turn: the callers' continuations (answering their clients) were
        just queued, and they run while the next batch's COMMIT is on the disk.
        """
        self._committing = None
        if (error := done.exception()) is not None:  # the StoreError from _commit
            outcomes = [_Failed(error)] * len(batch)
        self._resolve(batch, outcomes)
        if self._pending and not self._closed:
            self._flush(busy=True)

    def _schedule_flush(self) -> None:
        if self._pending and not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    @staticmethod
    def _resolve(batch: list[_Job], outcomes: list[Any]) -> None:
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.future.cancelled():
                continue  # committed all the same; the caller stopped waiting
            if isinstance(outcome, _Failed):
                job.future.set_exception(outcome.error)
            else:
                job.future.set_result(outcome)

    def _transaction(
        self, fns: list[Callable[[sqlite3.Connection], Any]], *, commit: bool = True
    ) -> list[Any]:
        """Run fns in one transaction; each result or _Failed, all _Failed if the commit fails.

        With commit=False the transaction is left open for _commit, unless nothing is left in
        it (a lone job failed) or a statement of its own failed (rolled back, all _Failed).
        """
        conn = self._conn
        alone = len(fns) == 1  # no savepoint needed: a failure rolls back the whole transaction
        outcomes: list[Any] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._changes = conn.total_changes
            for fn in fns:
                if not alone:
                    conn.execute("SAVEPOINT job")
                try:
                    outcomes.append(fn(conn))
                except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
                    error = self._job_error(exc)
                    if not conn.in_transaction:  # SQLite rolled back the whole batch (SQLITE_FULL)
                        return [_Failed(self._abort(error))] * len(fns)
                    conn.execute("ROLLBACK" if alone else "ROLLBACK TO job")
                    outcomes.append(_Failed(error))
                if not alone:
                    conn.execute("RELEASE job")
        except sqlite3.Error as exc:
            return [_Failed(self._abort(exc))] * len(fns)
        if commit and conn.in_transaction:
            try:
                self._commit()
            except StoreError as error:
                return [_Failed(error)] * len(fns)
        return outcomes


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException
