"""The node's pairing service: PAKE runs under per-code and per-source limits, and the code file."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import stat
from pathlib import Path

import pytest

from appliance import cli
from appliance.errors import StateError
from appliance.ledger.identity import DeviceKey, create_key, fingerprint
from appliance.ledger.pake import console_finish, console_open
from appliance.services import pairing
from appliance.services.pairing import Pairing, PairingError, TooManyTries, last_code, new_code


class Clock:
    """Wall time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key(tmp_path: Path) -> DeviceKey:
    return create_key(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def node(tmp_path: Path, key: DeviceKey, clock: Clock) -> Pairing:
    return Pairing(tmp_path, key, "node-1", clock=clock)


def attempt(node: Pairing, code: str, source: str, seen_fp: str | None = None) -> str:
    """One whole run as a console at `source` would make it; the token it opened."""

    async def go() -> str:
        started = await node.start(source, "till")
        step = console_finish(code, started.node_id, started.message, seen_fp or node.fingerprint)
        redeemed = await node.finish(started.session, step.message, step.confirm)
        confirm, sealed = node.seal(redeemed, redeemed.token.encode())
        return console_open(step.keys, seen_fp or node.fingerprint, confirm, sealed).decode()

    return asyncio.run(go())


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def stored(tmp_path: Path) -> dict[str, object]:
    data = json.loads((tmp_path / pairing.PAIRING_FILE).read_text())
    assert isinstance(data["code"], dict)
    return data["code"]


def test_the_right_code_buys_a_token_once(node: Pairing, clock: Clock, tmp_path: Path) -> None:
    code = new_code(tmp_path, clock.now)
    token = attempt(node, code, "10.0.0.5")
    assert node.check(token, clock.now).name == "till"
    assert "code" not in stored(tmp_path)  # the secret left the disk once used
    with pytest.raises(PairingError, match="no pairing code is waiting"):
        attempt(node, code, "10.0.0.5")
    status = last_code(tmp_path, clock.now)
    assert status is not None and status.used and "paired" in status.describe()


def test_the_code_file_is_private(tmp_path: Path) -> None:
    new_code(tmp_path)
    assert stat.S_IMODE((tmp_path / pairing.PAIRING_FILE).stat().st_mode) == 0o600


def test_a_wrong_code_fails_and_counts_before_the_answer(
    node: Pairing, clock: Clock, tmp_path: Path
) -> None:
    code = new_code(tmp_path, clock.now)
    with pytest.raises(PairingError, match="wrong pairing code"):
        attempt(node, wrong(code), "10.0.0.5")
    assert stored(tmp_path)["failures"] == 1
    # a run that starts and is never finished is a failure too
    asyncio.run(node.start("10.0.0.6", "x"))
    assert stored(tmp_path)["failures"] == 2
    assert attempt(node, code, "10.0.0.7")  # the vendor still pairs


def test_a_man_in_the_middle_learns_no_token(node: Pairing, clock: Clock, tmp_path: Path) -> None:
    code = new_code(tmp_path, clock.now)
    (tmp_path / "mitm").mkdir()
    other = fingerprint(create_key(tmp_path / "mitm").public)
    with pytest.raises(PairingError, match="fingerprint"):
        attempt(node, code, "10.0.0.5", seen_fp=other)


def test_a_code_dies_after_the_cap_and_the_box_says_so(
    node: Pairing, clock: Clock, tmp_path: Path
) -> None:
    code = new_code(tmp_path, clock.now)
    for n in range(pairing.CODE_FAILURES):  # each from its own address: the per-code cap decides
        with pytest.raises(PairingError, match="wrong pairing code"):
            attempt(node, wrong(code), f"10.0.{n}.1")
    with pytest.raises(PairingError, match="refused after 20 failed attempts"):
        attempt(node, code, "10.9.9.9")  # even the right code: the code is dead
    status = last_code(tmp_path, clock.now)
    assert status is not None and status.dead


def test_stallbox_pair_reports_a_dead_code(
    tmp_path: Path, key: DeviceKey, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    data = {"epoch": 0, "code": {"id": "a", "code": "123456", "expires": 0, "failures": 20}}
    (tmp_path / pairing.PAIRING_FILE).write_text(json.dumps(data))
    assert cli.main(["pair", "--state", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pairing code: ") and "refused after 20 failed attempts" in out


def test_one_address_cannot_burn_the_vendors_code(
    node: Pairing, clock: Clock, tmp_path: Path
) -> None:
    code = new_code(tmp_path, clock.now)
    refused = 0
    for _ in range(3 * pairing.SOURCE_FAILURES_PER_CODE):
        clock.now += 10  # slow enough for the rate limit: only its share of the code stops it
        try:
            attempt(node, wrong(code), "192.0.2.66")
        except TooManyTries as exc:
            refused += "for this code" in str(exc) and exc.retry_after > 0
        except PairingError:
            pass
    assert refused == 2 * pairing.SOURCE_FAILURES_PER_CODE
    assert stored(tmp_path)["failures"] == pairing.SOURCE_FAILURES_PER_CODE
    assert attempt(node, code, "192.0.2.1")  # the vendor, from another address


def test_a_source_is_rate_limited_and_ipv6_counts_per_64(node: Pairing, clock: Clock) -> None:
    assert pairing.source_key("2001:db8:1:2::5") == pairing.source_key("2001:db8:1:2:ffff::9")
    assert pairing.source_key("::ffff:10.0.0.1") == "10.0.0.1"
    for n in range(pairing.SOURCE_BURST):
        new_code(node.state_dir, clock.now)  # a fresh code each time: only the rate decides
        asyncio.run(node.start(f"2001:db8:1:2::{n + 1}", "x"))
    new_code(node.state_dir, clock.now)
    with pytest.raises(TooManyTries, match="from this address"):
        asyncio.run(node.start("2001:db8:1:2::99", "x"))
    clock.now += 1 / pairing.SOURCE_RATE
    asyncio.run(node.start("2001:db8:1:2::99", "x"))


def test_the_source_table_is_bounded(
    node: Pairing, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pairing, "MAX_SOURCES", 8)
    for n in range(50):
        with pytest.raises(PairingError):  # no code waiting: refused, but the source was seen
            asyncio.run(node.start(f"10.1.0.{n}", "x"))
    assert len(node._sources) == 8


def test_sessions_expire_and_finish_once(node: Pairing, clock: Clock, tmp_path: Path) -> None:
    code = new_code(tmp_path, clock.now)

    async def late() -> None:
        started = await node.start("10.0.0.5", "x")
        step = console_finish(code, started.node_id, started.message, node.fingerprint)
        clock.now += pairing.SESSION_TTL_S
        await node.finish(started.session, step.message, step.confirm)

    with pytest.raises(PairingError, match="expired pairing session"):
        asyncio.run(late())


def test_an_expired_code_is_refused(node: Pairing, clock: Clock, tmp_path: Path) -> None:
    code = new_code(tmp_path, clock.now)
    clock.now += pairing.CODE_TTL_S
    with pytest.raises(PairingError, match="expired"):
        attempt(node, code, "10.0.0.5")


def test_a_full_disk_is_said_and_leaves_no_temp_file(
    tmp_path: Path,
    key: DeviceKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    new_code(tmp_path)
    before = (tmp_path / pairing.PAIRING_FILE).read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StateError, match="disk is full"):
        new_code(tmp_path)
    assert cli.main(["pair", "--state", str(tmp_path)]) == 4
    assert "the disk is full" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.tmp"))
    assert (tmp_path / pairing.PAIRING_FILE).read_bytes() == before
