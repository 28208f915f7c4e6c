"""`stallbox cloud verify` re-checks a store end to end (issue 22), on both stores.

A store filled through the real app verifies; then each kind of damage a bad restore or a
meddling hand can do is made with plain SQL and must be named: a changed line (signature), a
removed receipt (gap, head), a changed subtree, a rolled-back log behind a box's checkpoint.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from cloudfix import LOG_KEY, ORIGIN, CloudClient, StoreOpener, make_chain, open_store
from nodeproc import run_cli
from pgserver import pg_server
from syncproc import start_cloud

from appliance.ledger.identity import public_key_text
from appliance.ledger.wire import encode
from sync.checkpoint import NoteVerifier
from sync.cloud.audit import AuditReport, audit
from sync.cloud.store import CloudStore

__all__ = ["open_store", "pg_server"]  # fixtures, used by name
VERIFIERS = [NoteVerifier.from_public_key(ORIGIN, LOG_KEY.public_key())]


async def execute(store: Any, sql: str, *params: object) -> None:
    """Meddle with a store behind its back (what a bad restore or a hand with psql does)."""
    if hasattr(store, "_run"):
        await store._run(lambda c: c.execute(sql, params))
    else:
        async with store._conn() as conn:
            await conn.execute(sql.replace("?", "%s"), params)


def test_verify_finds_every_kind_of_damage(open_store: StoreOpener) -> None:
    chains = [make_chain(30), make_chain(25)]

    async def fill() -> list[str]:
        client = CloudClient(await open_store())
        notes = []
        try:
            for chain in chains:
                token = await client.enrol(chain)
                for first, last in ((0, 9), (10, len(chain.receipts) - 1)):
                    answer = await client.post(chain, token, chain.batch(first, last))
                    assert answer.status_code == 200, answer.text
                    notes.append(answer.json()["checkpoint"])
        finally:
            await client.close()
        return notes

    async def check(notes: list[str]) -> AuditReport:
        store: CloudStore = await open_store()
        try:
            return await audit(store, VERIFIERS, notes)
        finally:
            await store.close()

    async def meddle(sql: str, *params: object) -> None:
        store = await open_store()
        try:
            await execute(store, sql, *params)
        finally:
            await store.close()

    async def scenario() -> None:
        notes = await fill()
        report = await check(notes)
        assert report.problems == [], report.problems
        assert (report.devices, report.receipts, report.size, report.checkpoints) == (2, 55, 55, 4)

        first = chains[0]
        forged = first.receipts[12].line.replace(";3700;", ";3701;")
        await meddle("UPDATE receipts SET line = ? WHERE seq = 12 AND device = ?", forged,
                     first.device)  # fmt: skip
        report = await check([])
        assert any(f"device {first.device}: signature" in p for p in report.problems), report
        assert any("subtree" in p for p in report.problems), report  # its leaf changed too
        await meddle("UPDATE receipts SET line = ? WHERE seq = 12 AND device = ?",
                     first.receipts[12].line, first.device)  # fmt: skip
        assert (await check(notes)).problems == []

        await meddle("UPDATE subtrees SET hash = ? WHERE level = 2 AND idx = 3", bytes(32))
        assert any("subtree level 2 index 3" in p for p in (await check([])).problems)
        await meddle("DELETE FROM subtrees WHERE level = 2 AND idx = 3")  # gone: the count says so
        assert any("subtree" in p for p in (await check([])).problems)

    asyncio.run(scenario())


def test_verify_a_rolled_back_store_against_a_boxs_checkpoint(open_store: StoreOpener) -> None:
    chain = make_chain(40)

    async def scenario() -> None:
        client = CloudClient(await open_store())
        try:
            token = await client.enrol(chain)
            assert (await client.post(chain, token, chain.batch(0, 19))).status_code == 200
            old = (await client.post(chain, token, chain.batch(20, 39))).json()["checkpoint"]
            # what restoring a backup taken at size 20 leaves: the last 20 receipts gone
            await execute(client.store, "DELETE FROM receipts WHERE seq >= 20")
            await execute(client.store, "DELETE FROM subtrees WHERE (idx + 1) * (1 << level) > 20")
            await execute(client.store, "UPDATE log_state SET size = 20")
            await execute(client.store, "UPDATE devices SET head_seq = 19, head_hash = ?",
                          chain.receipts[19].hash)  # fmt: skip
            report = await audit(client.store, VERIFIERS, [old])
        finally:
            await client.close()
        assert report.size == 20
        assert report.problems == [
            f"checkpoint 1 ({ORIGIN}): size 40 is beyond the log's 20 leaves: the store was "
            "rolled back"
        ], report.problems

    asyncio.run(scenario())


def test_verify_command(tmp_path: Path) -> None:
    chain = make_chain(15)
    state = tmp_path / "cloud"
    cloud = start_cloud(state)
    try:
        token = run_cli("cloud", "enrol-token", "--state", str(state)).stdout.strip()
        with httpx.Client(base_url=cloud.url, timeout=10) as http:
            api = http.post(
                "/v1/enrol", json={"token": token, "public_key": public_key_text(chain.key.public)}
            ).json()["api_token"]
            answer = http.post(
                f"/v1/devices/{chain.device}/receipts", content=encode(chain.batch(0, 14)),
                headers={"Authorization": f"Bearer {api}"},
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
    finally:
        assert cloud.stop() == 0
    note = tmp_path / "box-checkpoint"
    note.write_text(answer.json()["checkpoint"])
    done = run_cli("cloud", "verify", "--state", str(state), "--checkpoint", str(note))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 devices, 15 receipts" in done.stdout and "store verified" in done.stdout

    import sqlite3

    with sqlite3.connect(state / "cloud.db") as db:
        db.execute("DELETE FROM receipts WHERE seq = 7")
    broken = run_cli("cloud", "verify", "--state", str(state), "--checkpoint", str(note))
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"PROBLEM: device {chain.device}: gap" in broken.stdout, broken.stdout
    assert "PROBLEM: log: index 7 is missing" in broken.stdout, broken.stdout
