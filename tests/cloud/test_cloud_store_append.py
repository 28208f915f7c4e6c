"""`append_batch` on both stores: a stale head appends nothing, racing appends land exactly once,
and stores that share one log (each with its own idea of the log's edge) build one tree.

The PostgreSQL store moves the head with `UPDATE … WHERE head_seq = after_seq` in the pipeline
that takes the log's lock, and reads there the edge of the size its own last append left, used
only when the size is still that one; these tests hold both to the behaviour of a plain read of
the head and the edge.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cloudfix import StoreOpener, open_store
from pgserver import pg_server

from sync.cloud import store as st
from sync.cloud.ingest import NewReceipt
from sync.cloud.store import CloudStore, HeadMoved
from sync.tlog import MemoryTree, leaf_hash

__all__ = ["open_store", "pg_server"]  # fixtures, used by name
NOW = datetime(2026, 12, 5, tzinfo=UTC)
KEY = "enrolled-key"


def receipts(device: str, first: int, count: int, next_key: str | None = None) -> list[NewReceipt]:
    """Stand-in checked receipts (the store checks nothing): what matters is seq and leaf."""
    out = []
    for seq in range(first, first + count):
        line = f"{device};{seq};sale"
        key = next_key if seq == first + count - 1 else None
        out.append(
            NewReceipt(seq, line, "[]", hashlib.sha256(line.encode()).digest()[:16],
                       leaf_hash(line.encode()), key)
        )  # fmt: skip
    return out


async def enrolled(store: CloudStore, *devices: str) -> None:
    for device in devices:
        await store.add_enrol_token(f"t-{device}", NOW, NOW + timedelta(hours=1))
        await store.enrol(f"t-{device}", NOW, device, KEY, device, f"api-{device}")


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


def test_a_stale_head_appends_nothing(open_store: StoreOpener) -> None:
    async def scenario() -> None:
        store = await open_store()
        try:
            await enrolled(store, "a")
            first = await store.append_batch("a", -1, receipts("a", 0, 3))
            assert (first.head_seq, first.size) == (2, 3)
            with pytest.raises(HeadMoved):
                await store.append_batch("a", -1, receipts("a", 0, 3, next_key="other"))
            with pytest.raises(HeadMoved):
                await store.append_batch("b", -1, receipts("b", 0, 1))  # not enrolled
            record = await store.device("a")
            assert record is not None
            assert (record.head_seq, record.head_hash, record.public_key) == (
                2,
                first.head_hash,
                KEY,
            )
            assert await store.tree_size() == 3
            assert await store.subtree_count() == 3 + 1  # three leaves and one pair
            rekeyed = await store.append_batch("a", 2, receipts("a", 3, 2, next_key="next-key"))
            record = await store.device("a")
            assert record is not None and record.public_key == "next-key"
            tree = MemoryTree()
            for r in receipts("a", 0, 5):
                tree.append(r.leaf)
            assert (rekeyed.size, rekeyed.root) == (5, tree.root())
        finally:
            await store.close()

    run(scenario())


def test_racing_appends_of_one_head_land_once(open_store: StoreOpener) -> None:
    async def scenario() -> None:
        one, two = await open_store(), await open_store()
        try:
            await enrolled(one, "a")
            batch = receipts("a", 0, 50)
            outcomes = await asyncio.gather(
                one.append_batch("a", -1, batch), two.append_batch("a", -1, batch),
                return_exceptions=True,
            )  # fmt: skip
            assert sorted(type(o).__name__ for o in outcomes) == ["Appended", "HeadMoved"]
            assert await one.tree_size() == await two.tree_size() == 50
            assert len(await one.receipts_page("a", -1, 100)) == 50
        finally:
            await one.close()
            await two.close()

    run(scenario())


def test_stores_sharing_one_log_build_one_tree(open_store: StoreOpener) -> None:
    async def scenario() -> None:
        one, two = await open_store(), await open_store()
        tree = MemoryTree()
        heads = {"a": -1, "b": -1}
        try:
            await enrolled(one, "a", "b")
            # Both stores append in turn, and one of them twice in a row, with sizes that leave
            # ragged edges: each append starts from an edge the other store may have moved.
            for store, device, count in [
                (one, "a", 3), (one, "b", 5), (two, "a", 6), (one, "b", 1), (two, "b", 7),
                (two, "a", 2), (one, "a", 9), (one, "a", 4),
            ]:  # fmt: skip
                batch = receipts(device, heads[device] + 1, count)
                done = await store.append_batch(device, heads[device], batch)
                for r in batch:
                    tree.append(r.leaf)
                heads[device] = done.head_seq
                assert (done.size, done.root) == (tree.size, tree.root())
                assert done.last_index == tree.size - 1
            for store in (one, two):
                assert await st.root(store, tree.size) == tree.root()
                assert await store.subtree_count() == 2 * tree.size - tree.size.bit_count()
        finally:
            await one.close()
            await two.close()

    run(scenario())
