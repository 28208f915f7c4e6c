"""ClaimBatches: many claims to one writer job, each with its own outcome, answered after COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from services_support import Clock

from appliance.domain.errors import DropError
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.claim_batch import ClaimBatches
from appliance.services.drops import Drops
from appliance.store.errors import StoreError
from appliance.store.writer import Writer


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer.open(tmp_path / "t.db")
    yield w
    w.close()


def keys(writer: Writer) -> set[str]:
    return {r[0] for r in writer.run_sync(lambda c: c.execute("SELECT key FROM meta").fetchall())}


def insert(key: str) -> Callable[[sqlite3.Connection], str]:
    def fn(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO meta VALUES (?, 'v')", (key,))
        return key

    return fn


def refused(conn: sqlite3.Connection) -> str:
    raise ValueError("sold out")  # before any write, as a claim's refusal


def written_then_refused(conn: sqlite3.Connection) -> str:
    conn.execute("INSERT INTO meta VALUES ('expired-hold', 'v')")  # as an expiry before a refusal
    raise ValueError("over the limit")


def test_a_turns_claims_share_one_job_and_a_refused_one_fails_alone(writer: Writer) -> None:
    redone: list[int] = []
    batches: ClaimBatches[str] = ClaimBatches(writer, lambda: redone.append(1))

    async def scenario() -> tuple[str | BaseException, ...]:
        commits = writer.commits
        outcomes = await asyncio.gather(
            batches.run(insert("a")), batches.run(refused), batches.run(insert("b")),
            return_exceptions=True,
        )  # fmt: skip
        assert writer.commits == commits + 1  # one transaction, answered after its COMMIT
        return outcomes

    outcomes = asyncio.run(scenario())
    assert outcomes[0] == "a" and outcomes[2] == "b"
    assert isinstance(outcomes[1], ValueError)
    assert batches.jobs == 1 and batches.redone == 0 and redone == []
    assert keys(writer) >= {"a", "b"}


def test_a_claim_that_wrote_before_failing_is_undone_alone(writer: Writer) -> None:
    redone: list[int] = []
    batches: ClaimBatches[str] = ClaimBatches(writer, lambda: redone.append(1))

    async def scenario() -> tuple[str | BaseException, ...]:
        return await asyncio.gather(
            batches.run(insert("a")), batches.run(written_then_refused), batches.run(insert("b")),
            return_exceptions=True,
        )  # fmt: skip

    outcomes = asyncio.run(scenario())
    assert outcomes[0] == "a" and outcomes[2] == "b"
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "over the limit"
    assert batches.redone == 1 and redone == [1]  # memory told to recount before the redo
    stored = keys(writer)
    assert {"a", "b"} <= stored and "expired-hold" not in stored


def test_a_batch_is_capped_and_the_next_claims_queue_the_next_job(writer: Writer) -> None:
    batches: ClaimBatches[str] = ClaimBatches(writer, lambda: None, max_claims=2)

    async def scenario() -> list[str]:
        return await asyncio.gather(*(batches.run(insert(f"k{n}")) for n in range(5)))

    assert asyncio.run(scenario()) == [f"k{n}" for n in range(5)]  # arrival order kept
    assert batches.jobs == 3
    assert {f"k{n}" for n in range(5)} <= keys(writer)


def test_a_job_that_fails_whole_fails_each_of_its_claims(writer: Writer) -> None:
    batches: ClaimBatches[str] = ClaimBatches(writer, lambda: None)

    def broken_commit() -> None:  # as a COMMIT the disk refuses: rolled back, StoreError
        raise writer._abort(sqlite3.OperationalError("disk I/O error"))

    writer._commit = broken_commit  # type: ignore[method-assign]

    async def scenario() -> tuple[str | BaseException, ...]:
        return await asyncio.gather(
            batches.run(insert("a")), batches.run(insert("b")), return_exceptions=True
        )

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, StoreError) for o in outcomes)
    del writer._commit  # the real one again: nothing of the failed batch was stored
    assert not {"a", "b"} & keys(writer)


def test_a_rushs_claims_one_job_the_refused_one_alone_and_memory_as_stored(
    box: Box, clock: Clock
) -> None:
    drops = Drops(Checkout(box, clock=clock), None, clock)

    async def scenario() -> list[object]:
        drop = await drops.schedule("coffee", 3, clock.now, 1, timedelta(minutes=5))
        jobs = drops.batches.jobs
        outcomes = await asyncio.gather(
            *(drops.claim(drop.id, who, 1, "cash") for who in ("a", "a", "b", "c", "d")),
            return_exceptions=True,
        )
        assert drops.batches.jobs == jobs + 1  # five claims of one turn, one writer job
        assert await drops.left(drop) == 0
        return [o if isinstance(o, BaseException) else o.claim.place for o in outcomes]

    places = asyncio.run(scenario())
    assert places[0] == 1 and places[2] == 2 and places[3] == 3  # arrival order
    assert isinstance(places[1], DropError) and "at most 1" in str(places[1])
    assert isinstance(places[4], DropError) and "sold out" in str(places[4])
    stored = box.writer.run_sync(
        lambda c: c.execute("SELECT attendee, place FROM drop_claims ORDER BY place").fetchall()
    )
    assert stored == [("a", 1), ("b", 2), ("c", 3)]
    assert list(drops.held.values()) == [{"a": 1, "b": 1, "c": 1}]  # memory moved on as stored


def test_a_batch_whose_task_is_cancelled_leaves_no_claim_waiting(writer: Writer) -> None:
    batches: ClaimBatches[str] = ClaimBatches(writer, lambda: None)

    async def scenario() -> None:
        waiting = asyncio.ensure_future(batches.run(insert("a")))
        await asyncio.sleep(0)  # the claim has joined its batch, whose task is not begun yet
        for task in list(batches._tasks):  # as the loop cancels what is left when it stops
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())
