"""`stallbox rekey`, `pair --revoke` and `close` ask first: nothing happens unless the vendor says so.

Each command runs in-process on a real state dir, with stdin a script's (not a terminal) or a
terminal's that types an answer; what the command would change is read back from the files.
"""

from __future__ import annotations

import io
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from appliance import cli
from appliance.errors import ExitCode


class Terminal(io.StringIO):
    """A stdin that is a terminal, with the vendor's typing in it."""

    def isatty(self) -> bool:
        return True


class Script(io.StringIO):
    """A stdin that is not a terminal (a pipe, cron, a pasted heredoc)."""

    def isatty(self) -> bool:
        return False


@pytest.fixture
def state(tmp_path: Path) -> Path:
    made = tmp_path / "state"
    assert cli.main(["init", "--state", str(made), "--currency", "EUR"]) == ExitCode.OK
    return made


def snapshot(state: Path) -> tuple[bytes, list[tuple[str]], bytes]:
    """The device key, the ledger's receipt kinds and the pairing file: what the three change."""
    with closing(sqlite3.connect(state / "stallbox.db")) as conn:
        kinds = conn.execute("SELECT kind FROM receipts ORDER BY seq").fetchall()
    pairing = state / "pairing.json"
    return (
        (state / "device.key").read_bytes(),
        kinds,
        pairing.read_bytes() if pairing.exists() else b"",
    )


COMMANDS = {
    "rekey": (["rekey"], "rekey"),
    "revoke": (["pair", "--revoke"], "revoke"),
    "close": (["close"], "close"),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_script_without_yes_is_refused_and_nothing_changes(
    name: str, state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, _ = COMMANDS[name]
    before = snapshot(state)
    monkeypatch.setattr("sys.stdin", Script(f"{COMMANDS[name][1]}\n"))  # typed, but no terminal
    assert cli.main([*argv, "--state", str(state)]) == ExitCode.USAGE
    assert "cannot be undone" in (err := capsys.readouterr().err) and "--yes" in err
    assert snapshot(state) == before


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_terminal_must_type_the_word_and_yes_answers_for_a_script(
    name: str, state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, word = COMMANDS[name]
    before = snapshot(state)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))  # a stray answer is not the word
    assert cli.main([*argv, "--state", str(state)]) == ExitCode.USAGE
    assert f'Type "{word}"' in (err := capsys.readouterr().err) and "nothing done" in err
    assert snapshot(state) == before
    monkeypatch.setattr("sys.stdin", Terminal(f"{word}\n"))
    assert cli.main([*argv, "--state", str(state)]) == ExitCode.OK
    after = snapshot(state)
    assert after != before
    monkeypatch.setattr("sys.stdin", Script(""))
    assert cli.main([*argv, "--state", str(state), "--yes"]) == ExitCode.OK
    assert snapshot(state) != after


def test_a_preview_asks_nothing(
    state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", Script(""))
    before = snapshot(state)
    assert cli.main(["close", "--preview", "--state", str(state)]) == ExitCode.OK
    assert capsys.readouterr().err == "" and snapshot(state) == before


@pytest.mark.parametrize("action", ["revoke", "clear-quarantine", "delete-device"])
def test_the_clouds_destructive_commands_ask_too(
    action: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = tmp_path / "cloud"  # refused before the store is opened: nothing is created
    monkeypatch.setattr("sys.stdin", Script(""))
    argv = ["cloud", action, "abcdefghij", "--state", str(cloud)]
    assert cli.main(argv) == ExitCode.USAGE
    assert "--yes" in capsys.readouterr().err and not cloud.exists()
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    assert cli.main(argv) == ExitCode.USAGE
    assert "nothing done" in capsys.readouterr().err and not cloud.exists()
