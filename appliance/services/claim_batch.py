"""A drop rush's claims, many to one writer job: no job, future hop and savepoint per claim.

In a rush the claims queued while the previous batch commits are the writer's next batch, and
each was one job: a future, a SAVEPOINT and a RELEASE, and the writer's bookkeeping around it
(docs/performance/2026-12-05-claims-commits-off-the-loop.md). Here the claims that arrive
before their job begins share it: the first claim of a batch queues one job
(`Writer.run_off_loop`: never committed inline), later ones join it until the writer begins it
(at most MAX_CLAIMS: then the next claim queues the next job), and each claim's transaction
function runs in it, in arrival order, with no savepoint.

Each claim keeps its own outcome. A claim that raises before writing anything (a refusal: sold
out, over the limit, a tender not offered) has written nothing, so it fails alone and its
neighbours go on. A claim that raised after writing (an expiry its refusal must undo, or an
unexpected store error) cannot be undone without a savepoint: the whole job is rolled back
(the writer's own savepoint, or its transaction), `on_redo` makes the caller forget what it
kept in memory from the rolled-back claims, and the batch runs again as one job with a
savepoint per claim, as the writer would have run them. Every caller is answered only once the
job's COMMIT is durable, with its own result or its own error; a job that fails whole (a failed
commit, a full disk, a closed writer) fails each of its claims with that error.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from appliance.store.writer import Writer

T = TypeVar("T")

MAX_CLAIMS = 64  # per job, as the writer's MAX_BATCH: the loop runs a job's claims in one go


@dataclass(slots=True)
class _Claim(Generic[T]):
    fn: Callable[[sqlite3.Connection], T]
    future: asyncio.Future[T]


@dataclass(frozen=True, slots=True)
class _Raised:
    error: Exception


class _Redo(Exception):
    """A claim raised after writing: roll the job back and run the batch with savepoints."""


class ClaimBatches(Generic[T]):
    """Transaction functions run many to one writer job, each with its own outcome."""

    def __init__(
        self, writer: Writer, on_redo: Callable[[], None], max_claims: int = MAX_CLAIMS
    ) -> None:
        self.writer = writer
        self.on_redo = on_redo
        self.max_claims = max_claims
        self.jobs = 0  # writer jobs queued, for the tests
        self.redone = 0  # batches run again with a savepoint per claim
        self._open: list[_Claim[T]] | None = None  # the batch claims join until its job begins
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in the open batch's job (queueing one if none is open); its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        batch = self._open
        if batch is None or len(batch) >= self.max_claims:
            batch = self._open = []
            self.jobs += 1
            task = loop.create_task(self._submit(batch), name="drop-claims")
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, batch))
        batch.append(_Claim(fn, future))
        return await future

    async def _submit(self, batch: list[_Claim[T]]) -> None:
        """Queue the batch's job and hand each claim its outcome once it has committed."""
        try:
            try:
                outcomes = await self.writer.run_off_loop(lambda conn: self._run(conn, batch))
            except _Redo:
                self.redone += 1
                self.on_redo()
                outcomes = await self.writer.run_off_loop(lambda conn: self._careful(conn, batch))
        except Exception as exc:  # noqa: BLE001 - the job failed whole: each claim is told
            for claim in batch:
                if not claim.future.done():
                    claim.future.set_exception(exc)
            return
        for claim, outcome in zip(batch, outcomes, strict=True):
            if claim.future.done():
                continue  # its caller stopped waiting; committed all the same
            if isinstance(outcome, _Raised):
                claim.future.set_exception(outcome.error)
            else:
                claim.future.set_result(outcome)

    def _finished(self, batch: list[_Claim[T]], task: asyncio.Task[None]) -> None:
        """The batch's task is done: a claim still waiting (the task cancelled) is cancelled too."""
        self._tasks.discard(task)
        for claim in batch:
            if not claim.future.done():
                claim.future.cancel()

    def _close(self, batch: list[_Claim[T]]) -> None:
        """The job begins: claims from now on start the next batch."""
        if self._open is batch:
            self._open = None

    def _run(self, conn: sqlite3.Connection, batch: list[_Claim[T]]) -> list[Any]:
        """Each claim in turn, no savepoint; _Redo when one raised after writing."""
        self._close(batch)
        outcomes: list[Any] = []
        for claim in batch:
            if claim.future.cancelled():  # as the writer skips a cancelled job
                outcomes.append(None)
                continue
            changes = conn.total_changes
            try:
                outcomes.append(claim.fn(conn))
            except Exception as exc:
                if not conn.in_transaction:  # SQLite rolled it all back (a full disk): job fails
                    raise
                if conn.total_changes != changes:
                    raise _Redo from exc
                outcomes.append(_Raised(exc))
        return outcomes

    def _careful(self, conn: sqlite3.Connection, batch: list[_Claim[T]]) -> list[Any]:
        """Each claim in its own savepoint, as the writer runs jobs: a failure undoes only its own."""
        outcomes: list[Any] = []
        for claim in batch:
            if claim.future.cancelled():
                outcomes.append(None)
                continue
            conn.execute("SAVEPOINT claim")
            try:
                outcomes.append(claim.fn(conn))
            except Exception as exc:
                if not conn.in_transaction:
                    raise
                conn.execute("ROLLBACK TO claim")
                outcomes.append(_Raised(exc))
            conn.execute("RELEASE claim")
        return outcomes
