"""Display pairing: codes used once, expiring, dying after CODE_FAILURES wrong tries; tokens
stored only as hashes, surviving a reload, replaced when a console pairs a new display."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from appliance.services.box import Box
from appliance.services.display import CODE_FAILURES, CODE_TTL_S, DisplayHub, DisplayPairing
from appliance.services.pairing import PairingError

NOW = 1_800_000_000.0


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_code_pairs_once_and_the_token_survives_a_reload(box: Box) -> None:
    async def scenario() -> None:
        pairing = DisplayPairing(box.writer)
        code = pairing.new_code("till-1", NOW)
        console, token = await pairing.redeem(code, NOW + 1)
        assert console == "till-1" and pairing.check(token) == "till-1"
        with pytest.raises(PairingError):
            await pairing.redeem(code, NOW + 2)
        stored = await box.writer.read(
            lambda conn: conn.execute("SELECT token_hash FROM display_tokens").fetchall()
        )
        assert len(stored) == 1 and token not in str(stored)  # only the hash is kept
        again = DisplayPairing(box.writer)
        await again.load()
        assert again.check(token) == "till-1"
        with pytest.raises(PairingError):
            again.check(token + "x")

    asyncio.run(scenario())


def test_a_new_display_for_a_console_replaces_the_old_one(box: Box) -> None:
    async def scenario() -> None:
        pairing = DisplayPairing(box.writer)
        _, old = await pairing.redeem(pairing.new_code("till-1", NOW), NOW)
        _, other = await pairing.redeem(pairing.new_code("till-2", NOW), NOW)
        _, new = await pairing.redeem(pairing.new_code("till-1", NOW), NOW)
        with pytest.raises(PairingError):
            pairing.check(old)
        assert pairing.check(new) == "till-1" and pairing.check(other) == "till-2"
        reloaded = DisplayPairing(box.writer)
        await reloaded.load()
        with pytest.raises(PairingError):
            reloaded.check(old)

    asyncio.run(scenario())


def test_codes_expire_and_die_after_too_many_wrong_tries(box: Box) -> None:
    async def scenario() -> None:
        pairing = DisplayPairing(box.writer)
        code = pairing.new_code("till-1", NOW)
        with pytest.raises(PairingError, match="wrong or expired"):
            await pairing.redeem(code, NOW + CODE_TTL_S)
        code = pairing.new_code("till-1", NOW)
        for _ in range(CODE_FAILURES):
            with pytest.raises(PairingError, match="wrong or expired"):
                await pairing.redeem(wrong(code), NOW)
        with pytest.raises(PairingError, match="too many wrong codes"):
            await pairing.redeem(code, NOW)  # even the right one: show a new code
        console, _ = await pairing.redeem(pairing.new_code("till-1", NOW), NOW)
        assert console == "till-1"

    asyncio.run(scenario())


def test_a_display_gets_the_current_view_then_each_new_one() -> None:
    async def scenario() -> None:
        hub = DisplayHub()
        hub.show("till-1", {"phase": "cart", "total": "R$ 6,00"})
        stream = hub.stream("till-1", heartbeat_s=5)
        assert await anext(stream) == "retry: 1000\n\n"
        assert '"phase":"cart"' in await anext(stream)
        assert hub.following("till-1") == 1
        hub.show("till-2", {"phase": "pay"})  # another console's display: not this one's
        hub.show("till-1", {"phase": "idle"})
        assert await asyncio.wait_for(anext(stream), 1) == 'event: view\ndata: {"phase":"idle"}\n\n'
        await stream.aclose()  # type: ignore[attr-defined]
        assert hub.following("till-1") == 0

    asyncio.run(scenario())


def test_the_table_refuses_two_displays_for_one_console(box: Box) -> None:
    def insert(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO display_tokens VALUES ('a', 'till-1', 'now')")
        conn.execute("INSERT INTO display_tokens VALUES ('b', 'till-1', 'now')")

    with pytest.raises(sqlite3.IntegrityError):
        box.writer.run_sync(insert)
