"""Flags through sync, in process (issue 20): the cloud's signed bundle reaches the node's inbox,
the node verifies it before use (a tampered or expired one is refused, the last good one kept),
and the box's canary decisions reach the cloud once each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bundles import upsell
from cloudfix import CloudClient, make_chain

from appliance.flags.canary import FlagDecision, Objective
from appliance.flags.settings import FlagSettings
from appliance.services.box import Box, init_state
from appliance.services.cloud_account import CloudAccount
from appliance.services.flag_inbox import take_inbox
from appliance.services.flags import EdgeFlags
from appliance.store import flags as flags_sql
from appliance.store.connection import DB_NAME, open_sync
from sync.cloud.creators import CreatorKeys, hash_password, put_flag_set
from sync.cloud.sqlite_store import SqliteStore
from sync.flag_bundles import INBOX, FlagBundles

UPSELL = upsell()
T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_bundle_down_verified_on_the_node_and_decisions_up(tmp_path: Path) -> None:
    state = tmp_path / "box"
    init_state(state, "BRL", T0)
    box = Box.open(state, "BRL")
    conn = open_sync(state / DB_NAME)
    chain = make_chain(1)

    async def scenario() -> None:
        client = CloudClient(await SqliteStore.open(tmp_path / "cloud.db"))
        try:
            tables, keys = client.app.state.creator_tables, client.app.state.creator_keys
            assert isinstance(keys, CreatorKeys)
            token = await client.enrol(chain)
            await tables.add_creator("ana", hash_password("a long password"), "t")
            await tables.assign(chain.device, "ana", "fair-26", "t")
            account = CloudAccount("http://cloud", chain.device, token, "o", "k")
            shipper = FlagBundles(conn, account, client.http, state_dir=state)
            await shipper.step(force=True)
            assert not (state / INBOX).exists()  # no flags for the event yet: 404, nothing
            await put_flag_set(tables, keys, "ana", "fair-26", UPSELL)
            await shipper.step(force=True)
            inbox = state / INBOX
            settings = FlagSettings(
                "ana/fair-26", {keys.kid: keys.flags_key.public_key()}, objective=Objective()
            )
            flags = EdgeFlags(settings, state, box.writer)
            assert await take_inbox(flags, inbox) == "taken"
            good = flags.bundle_id
            assert flags.arm("cart-upsell", "v1") is not None
            stamp = inbox.stat().st_mtime_ns
            assert not await shipper.fetch()  # unchanged at the cloud: 304, the inbox untouched
            assert inbox.stat().st_mtime_ns == stamp
            assert await take_inbox(flags, inbox) == "same"

            wire = inbox.read_bytes()
            inbox.write_bytes(wire.replace(b'"sig": "', b'"sig": "AA'))  # tampered on the way
            assert (await take_inbox(flags, inbox)).startswith("refused: ")
            assert flags.bundle_id == good
            old = datetime.now(UTC) - timedelta(hours=2)
            await put_flag_set(tables, keys, "ana", "fair-26", UPSELL, now=old, ttl_s=3600)
            assert await shipper.fetch()  # a new (but expired) bundle: carried, not judged here
            why = await take_inbox(flags, inbox)
            assert why.startswith("refused: expired"), why
            assert flags.bundle_id == good  # the last good one stays in force

            decision = FlagDecision(
                "2026-11-26T18:05:00+00:00", good, "cart-upsell", "pastel", "off",
                "too little data by the deadline", '{"canary": {}, "control": {}}',
            )  # fmt: skip
            box.writer.run_sync(lambda c: flags_sql.insert_decision(c, decision))
            assert await shipper.ship() == 1
            assert await shipper.ship() == 0  # sent: not again
            stored = await tables.decisions([chain.device])
            assert [(d.flag, d.variant, d.verdict, d.bundle) for d in stored] == [
                ("cart-upsell", "pastel", "off", good)
            ]
            again = FlagBundles(conn, account, client.http, state_dir=state)  # a restarted daemon
            assert await again.ship() == 1  # sends it again; the cloud keeps one
            assert len(await tables.decisions([chain.device])) == 1
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        conn.close()
        box.close()
