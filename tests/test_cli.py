"""The `stallbox` CLI as a user runs it: a real process, exit codes, one clear line on errors."""

from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def stallbox(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "appliance.cli", *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.fixture
def state(tmp_path: Path) -> Path:
    result = stallbox("init", "--state", str(tmp_path / "state"), "--currency", "EUR")
    assert result.returncode == 0, result.stderr
    return tmp_path / "state"


def test_init_creates_key_ledger_and_config(state: Path) -> None:
    assert stat.S_IMODE((state / "device.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert 'currency = "EUR"' in (state / "stallbox.toml").read_text()
    again = stallbox("init", "--state", str(state))
    assert again.returncode == 0
    assert "kept device key, kept ledger, kept config" in again.stdout


def test_verify_export_and_pubkey_agree(state: Path, tmp_path: Path) -> None:
    verify = stallbox("ledger", "verify", "--state", str(state))
    assert verify.returncode == 0, verify.stderr
    assert "ok, 1 receipts up to seq 0" in verify.stdout
    export = stallbox("ledger", "export", "--state", str(state))
    assert export.returncode == 0 and export.stdout.startswith("SR1;")
    pubkey = stallbox("ledger", "pubkey", "--state", str(state))
    assert pubkey.returncode == 0
    (tmp_path / "lines").write_text(export.stdout)
    (tmp_path / "pub").write_text(pubkey.stdout)
    from_file = stallbox(
        "ledger", "verify", str(tmp_path / "lines"), "--pubkey", str(tmp_path / "pub")
    )
    assert from_file.returncode == 0, from_file.stderr


def test_verify_of_a_tampered_file_names_the_seq(state: Path, tmp_path: Path) -> None:
    line = stallbox("ledger", "export", "--state", str(state)).stdout.strip()
    pub = stallbox("ledger", "pubkey", "--state", str(state)).stdout.strip()
    (tmp_path / "lines").write_text(line.replace(";EUR;", ";USD;") + "\n")
    result = stallbox(
        "ledger", "verify", str(tmp_path / "lines"), f"--pubkey={pub}"
    )  # may start with "-"
    assert result.returncode == 1
    assert "chain broken at seq 0: signature does not verify" in result.stderr


def test_verify_file_without_pubkey_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "lines").write_text("")
    result = stallbox("ledger", "verify", str(tmp_path / "lines"))
    assert result.returncode == 2
    assert "--pubkey" in result.stderr


def test_a_garbled_key_is_refused_and_kept(state: Path) -> None:
    key = state / "device.key"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    before = key.read_bytes()
    for args in (("init", "--state", str(state)), ("ledger", "verify", "--state", str(state))):
        result = stallbox(*args)
        assert result.returncode == 4
        assert f"{key}: garbled" in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert key.read_bytes() == before


def test_a_missing_key_beside_a_ledger_is_not_replaced(state: Path) -> None:
    (state / "device.key").unlink()
    result = stallbox("init", "--state", str(state))
    assert result.returncode == 4
    assert "restore the key from a backup" in result.stderr
    assert not (state / "device.key").exists()


def test_a_corrupt_database_is_named(state: Path) -> None:
    db = state / "stallbox.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"\x00garbage" * 512)
    result = stallbox("ledger", "verify", "--state", str(state))
    assert result.returncode == 4
    assert f"{db}: not a valid SQLite database or corrupt" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"
)
def test_a_read_only_database_is_named(state: Path) -> None:
    """Root ignores file modes, so the command runs as `nobody`, who owns only the key."""
    nobody = pwd.getpwnam("nobody").pw_uid
    shared = Path(tempfile.mkdtemp(prefix="stallbox-ro-"))  # pytest's tmp dirs are root-only
    try:
        shared.chmod(0o755)
        state = Path(shutil.copytree(state, shared / "state"))
        os.chown(state / "device.key", nobody, -1)
        state.chmod(0o755)
        for name in os.listdir(state):
            if name != "device.key":
                (state / name).chmod(0o644)
        result = stallbox("init", "--state", str(state), user=str(nobody))
    finally:
        shutil.rmtree(shared)
    assert result.returncode == 4, result.stderr
    assert f"{state / 'stallbox.db'}: " in result.stderr
    assert "read-only" in result.stderr or "cannot open" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_config_is_named(state: Path) -> None:
    config = state / "stallbox.toml"
    config.write_text(config.read_text() + "\n[stall2]\nname = 'x'\n")
    result = stallbox("demo", "--script", "--state", str(state))
    assert result.returncode == 3
    assert f"{config}: stall2: unknown key" in result.stderr


def test_version() -> None:
    result = stallbox("--version")
    assert result.returncode == 0 and result.stdout.startswith("stallbox ")


def test_database_integrity_after_init(state: Path) -> None:
    conn = sqlite3.connect(state / "stallbox.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_init_finishes_a_state_dir_whose_database_was_never_initialised(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert stallbox("init", "--state", str(state)).returncode == 0
    db = state / "stallbox.db"
    with sqlite3.connect(db) as conn:  # as if init had died before writing the device id
        conn.execute("DELETE FROM meta WHERE key = 'device_id'")
    conn.close()
    refused = stallbox("node", "--state", str(state), "--port", "0", "--no-mdns")
    assert refused.returncode == 4 and "never initialised" in refused.stderr, refused.stderr
    assert stallbox("init", "--state", str(state)).returncode == 0


@pytest.mark.parametrize("wal", [False, True])
def test_init_finishes_a_state_dir_whose_database_has_no_schema(tmp_path: Path, wal: bool) -> None:
    """A power cut in `init` after the database file was made durable but before its schema
    committed leaves a file with no tables (found by tests/powercut): init must finish it."""
    state = tmp_path / "state"
    assert stallbox("init", "--state", str(state)).returncode == 0
    db = state / "stallbox.db"
    for path in state.glob("stallbox.db*"):
        path.unlink()
    db.touch()
    if wal:  # the header written, journal_mode=WAL set, nothing else
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
    refused = stallbox("node", "--state", str(state), "--port", "0", "--no-mdns")
    assert refused.returncode == 4 and "never initialised" in refused.stderr, refused.stderr
    again = stallbox("init", "--state", str(state))
    assert again.returncode == 0, again.stderr
    assert stallbox("ledger", "verify", "--state", str(state)).returncode == 0
