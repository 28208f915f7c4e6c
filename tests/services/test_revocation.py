"""Revocation kept in the ledger (issue 22): a deleted pairing.json revives no token, and a
database that moved refuses every token issued before; in process, on a real state dir."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from services_support import T0

from appliance.services.box import Box, init_state
from appliance.services.pairing import PAIRING_FILE, Pairing, PairingError, file_epoch
from appliance.services.revocation import on_node_start, revoke_in_state, revoke_on_node

NOW = T0.timestamp()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    init_state(tmp_path / "s", "BRL", T0)
    return tmp_path / "s"


def started(state: Path) -> tuple[Box, Pairing]:
    box = Box.open(state, "BRL")
    pairing = Pairing(state, box.key, box.device_id, clock=lambda: NOW)
    on_node_start(state, box.writer, pairing)
    return box, pairing


@pytest.fixture
def node(state: Path) -> Iterator[tuple[Box, Pairing]]:
    box, pairing = started(state)
    yield box, pairing
    box.close()


def test_a_revocation_outlives_its_file(state: Path, node: tuple[Box, Pairing]) -> None:
    box, pairing = node
    old = pairing.issue_local("till")
    epoch = asyncio.run(revoke_on_node(state, box.writer, pairing))
    assert epoch == 1 == file_epoch(state)
    with pytest.raises(PairingError, match="revoked"):
        pairing.check(old)
    (state / PAIRING_FILE).unlink()
    with pytest.raises(PairingError, match="revoked"):
        pairing.check(old)  # the running node: the ledger's epoch stands
    box.close()
    box, again = started(state)  # and after a restart with no file at all
    try:
        with pytest.raises(PairingError, match="revoked"):
            again.check(old)
        assert again.check(again.issue_local("till")).epoch == 1
    finally:
        box.close()


def test_a_revocation_with_the_node_stopped_is_in_the_ledger(state: Path) -> None:
    box, pairing = started(state)
    old = pairing.issue_local("till")
    assert revoke_in_state(state, box.writer) == 1
    box.close()
    (state / PAIRING_FILE).unlink()
    box, again = started(state)
    try:
        with pytest.raises(PairingError, match="revoked"):
            again.check(old)
    finally:
        box.close()


def test_a_copied_state_dir_refuses_every_earlier_token(state: Path, tmp_path: Path) -> None:
    box, pairing = started(state)
    token = pairing.issue_local("till")
    box.close()
    shutil.copytree(state, tmp_path / "card")  # a new file: a new inode
    box, moved = started(tmp_path / "card")
    try:
        with pytest.raises(PairingError, match="revoked"):
            moved.check(token)
        assert moved.realm and moved.check(moved.issue_local("till")).name == "till"
    finally:
        box.close()
    box, same = started(state)  # the original did not move: its token stands
    try:
        assert same.check(token).name == "till"
    finally:
        box.close()
