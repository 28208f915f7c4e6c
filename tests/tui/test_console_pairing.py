"""The console pairs by PAKE over a code, or with no code over the node's Unix socket."""

from __future__ import annotations

from pathlib import Path

import pytest
from console_support import console, pairing_code, start_stall, until_shown

from appliance.unix_listener import SOCKET_NAME
from tui.app import ConsoleSettings
from tui.state import ConsoleState


def token(state_file: Path, url: str) -> str | None:
    pinned = ConsoleState(state_file).node(url)
    return None if pinned is None else pinned.token


pytestmark = pytest.mark.anyio


async def test_the_console_pairs_with_a_code_and_over_the_socket(tmp_path: Path) -> None:
    node = start_stall(tmp_path / "state")
    try:
        wrong = f"{(int(pairing_code(node)) + 1) % 10**6:06d}"
        settings = ConsoleSettings(
            node_url=node.operator_url, state_path=tmp_path / "a.json", pair_code=wrong
        )
        async with console(settings).run_test(size=(100, 30)) as pilot:
            await until_shown(pilot, "Pairing failed: wrong pairing code")
        assert token(tmp_path / "a.json", node.operator_url) is None

        code = pairing_code(node)
        settings = ConsoleSettings(
            node_url=node.operator_url, state_path=tmp_path / "b.json", pair_code=code
        )
        async with console(settings).run_test(size=(100, 30)) as pilot:
            await until_shown(pilot, "✔ node up")
        assert token(tmp_path / "b.json", node.operator_url)

        on_box = f"unix:{node.state / SOCKET_NAME}"
        settings = ConsoleSettings(node_url=on_box, state_path=tmp_path / "c.json", poll_s=0.3)
        async with console(settings).run_test(size=(100, 30)) as pilot:
            await until_shown(pilot, "✔ node up")
            await until_shown(pilot, "Coffee")  # the catalogue, over the socket
        assert token(tmp_path / "c.json", on_box)
    finally:
        node.stop()
