"""The running daemon carries flags both ways once its receipts are in (issue 20): the event's
bundle lands in the node's inbox after the outbox is empty, and a decision the box takes later
reaches the cloud on a following round."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from bundles import upsell
from relay_support import CloudHarness, make_box

from appliance.flags.canary import FlagDecision
from appliance.store import flags as flags_sql
from appliance.store import syncstate
from appliance.store.connection import DB_NAME, open_sync
from sync.cloud.creators import hash_password, put_flag_set
from sync.daemon import Daemon, Limits
from sync.flag_bundles import INBOX

UPSELL = upsell()


async def until(what: str, check: Callable[[], Awaitable[bool]], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not await check():
        assert time.monotonic() < deadline, f"not in {deadline_s} s: {what}"
        await asyncio.sleep(0.02)


def test_the_daemon_fetches_the_bundle_after_the_receipts_and_ships_decisions(
    tmp_path: Path,
) -> None:
    state = tmp_path / "box"
    head = make_box(state, 3)
    conn = open_sync(state / DB_NAME)

    async def scenario() -> None:
        harness = await CloudHarness.open(tmp_path / "cloud.db")
        stop = asyncio.Event()
        try:
            account = await harness.enrol(state, "box")
            tables, keys = harness.app.state.creator_tables, harness.app.state.creator_keys
            await tables.add_creator("ana", hash_password("a long password"), "t")
            await tables.assign(account.device, "ana", "fair-26", "t")
            await put_flag_set(tables, keys, "ana", "fair-26", UPSELL)
            limits = Limits(rush=timedelta(0), heartbeat_s=0.05, idle_poll_s=0.01)
            daemon = Daemon(conn, account, harness.http, limits)
            running = asyncio.create_task(daemon.run(stop))

            async def inbox() -> bool:
                return (state / INBOX).exists()

            await until("the bundle in the node's inbox", inbox)
            assert syncstate.read_state(conn).acked_seq == head  # receipts went first
            decision = FlagDecision(
                "2026-11-28T18:05:00+00:00", "cd" * 32, "cart-upsell", "pastel", "off",
                "too little data by the deadline", "{}",
            )  # fmt: skip
            flags_sql.insert_decision(conn, decision)

            async def shipped() -> bool:
                return bool(await tables.decisions([account.device]))

            await until("the decision at the cloud", shipped)
            stop.set()
            await running
        finally:
            stop.set()
            await harness.close()

    try:
        asyncio.run(scenario())
    finally:
        conn.close()
