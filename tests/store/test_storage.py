"""Telling a full disk from other SQLite errors (the disk's state: tests/services/test_disk.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appliance.store import storage
from appliance.store.errors import DiskFull, StoreError


def error(code: int, text: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorcode = code
    return exc


def test_sqlite_full_is_disk_full_and_other_errors_are_not(tmp_path: Path) -> None:
    full = storage.write_error(
        tmp_path / "t.db", error(sqlite3.SQLITE_FULL, "database or disk is full")
    )
    assert isinstance(full, DiskFull) and "disk is full" in str(full)
    locked = storage.write_error(
        tmp_path / "t.db", error(sqlite3.SQLITE_BUSY, "database is locked")
    )
    assert type(locked) is StoreError and "write failed" in str(locked)
    # an I/O error counts as a full disk only when the disk has no room (here it has plenty)
    assert not storage.is_disk_full(error(sqlite3.SQLITE_IOERR_WRITE, "disk I/O error"), tmp_path)


def test_an_io_error_with_no_room_left_is_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "free_bytes", lambda directory: 4096)
    assert storage.is_disk_full(error(sqlite3.SQLITE_IOERR_SHMSIZE, "disk I/O error"), tmp_path)
