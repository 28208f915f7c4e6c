"""The WAL's checkpoints, taken from a connection and a thread of their own, never in a request.

In WAL mode a COMMIT only appends to the log; copying the log back into the database file (a
checkpoint) is SQLite's own job, and by default the COMMIT that finds the log past 1,000 pages does
it, inside that COMMIT, on whichever thread made it. For the node that was one sale in every ~120:
up to 4 MiB of pages written into the database file and that file fsynced before the sale was
answered, and where the sale committed inline on the event loop (a lone sale on a quick disk,
store/writer.py) every phone waiting behind it. On the Pi harness's card (bench/pi.py's FUSE mount,
5 ms fsync) a confirm that carried a checkpoint took 20-28 ms against a p50 of 7 ms (2,400 confirms,
19 checkpoints); on a real SD card, whose random 4 KiB writes are slow, a checkpoint's scattered
pages cost far more.

So the node's writer keeps a checkpoint only as a backstop (BACKSTOP_PAGES, should this stop),
and `Checkpointer.run` copies the log every EVERY_S while anything was committed, with
`PRAGMA wal_checkpoint(PASSIVE)` on its own connection in its own thread. PASSIVE never waits
for a reader or the writer and never blocks them: it copies what no open read still needs, and
SQLite's locks make it safe beside the writer (https://www.sqlite.org/wal.html#ckpt,
https://www.sqlite.org/pragma.html#pragma_wal_checkpoint). The log's durability is unchanged:
every commit was already durable in the log, and a checkpoint cut by power is redone from it.
The cost: at a quiet stall a checkpoint follows nearly every sale, so a sale's ~6 pages are
written twice on the card (the log, then the file; ~50 KB a sale with the fsyncs' metadata),
where SQLite's own checkpoint wrote a hot page once per ~120 sales. An SD card rated for
terabytes of writes does not notice a night's thousand sales.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3

from appliance.store.connection import open_sync
from appliance.store.errors import StoreError
from appliance.store.writer import Writer

log = logging.getLogger(__name__)

EVERY_S = 2.0  # small checkpoints often: a rush's log is copied in pieces, off every request
BACKSTOP_PAGES = 10_000  # the writer checkpoints itself past 40 MiB of log (4 KiB pages)


class Checkpointer:
    """Copies the writer's WAL into the database file, off the loop, while there are commits."""

    def __init__(self, writer: Writer, every_s: float = EVERY_S) -> None:
        self.writer = writer
        self.every_s = every_s
        self.passes = 0  # checkpoints taken, for the tests
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None  # opened in the thread at the first pass
        self._seen = -1  # the writer's commit count at the last pass

    async def take_over(self) -> None:
        """Leave the writer's own checkpoints to the backstop; this one copies the log from now."""
        await self.writer.run(
            lambda conn: conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}").fetchone()
        )

    async def run(self) -> None:
        """Every `every_s`, a checkpoint if the writer committed since the last; until cancelled."""
        try:
            await self.take_over()
        except StoreError as exc:  # a full disk, say: SQLite's own checkpoints stay on meanwhile
            log.warning("WAL checkpoints stay in the writer's commits: %s", exc)
        while True:
            await asyncio.sleep(self.every_s)
            if self.writer.commits != self._seen:
                self._seen = self.writer.commits
                try:
                    await self.checkpoint()
                except StoreError as exc:  # the backstop still bounds the log; try again later
                    log.warning("WAL checkpoint failed, retrying in %.0f s: %s", self.every_s, exc)

    async def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint in the thread: (busy, pages in the log, pages copied)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._checkpoint)

    def _checkpoint(self) -> tuple[int, int, int]:
        try:
            if self._conn is None:
                self._conn = open_sync(self.writer.path)
            busy, logged, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.writer.path}: checkpoint failed ({exc})") from None
        self.passes += 1
        return int(busy), int(logged), int(copied)

    def close(self) -> None:
        """Wait for a checkpoint under way, then close the connection and the thread."""
        self._thread.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
