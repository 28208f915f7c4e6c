"""Guards on a state dir before anything writes to it: one owner at a time, only its own ledger.

Two nodes on one state dir would interleave two writers on one ledger; a `stallbox.db` copied
from another box would be signed with this box's key under the other box's device id, and
afterwards verify with neither key. Both are refused before anything is written: `lock_state`
takes an exclusive flock on STATE/stallbox.lock for the life of the process (the file names the
holder's pid, so the refusal can say who), and `check_state` reads the key and the database
read-only and refuses a database whose device id is not this key's.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import StateError
from appliance.ledger.errors import ReceiptFormatError
from appliance.ledger.identity import DeviceKey, load_key
from appliance.ledger.receipt import parse_receipt
from appliance.services.key_files import KEY_ID, current_key
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME, describe_error

LOCK_NAME = "stallbox.lock"
DEVICE_ID = "device_id"


class StateInUse(StateError):
    """Another process holds the state dir's lock."""


class NotInitialised(StateError):
    """The database has no device id: `stallbox init` never finished."""


class ForeignDatabase(StateError):
    """The database belongs to another device key."""


@dataclass(slots=True)
class StateLock:
    """An exclusive lock on a state dir, held until `release` or the process ends."""

    path: Path
    fd: int

    def release(self) -> None:
        """Give the lock up (closing the file releases the flock)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_state(state_dir: Path, holder: str) -> StateLock:
    """Take the state dir's lock for `holder` (e.g. "stallbox node"); StateInUse if it is taken."""
    path = state_dir / LOCK_NAME
    writable = True
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        raise StateError(f"{state_dir}: no state dir (run `stallbox init`)") from None
    except PermissionError:  # a state dir we may only read: lock it still, without our pid
        fd, writable = _open_read_only(path), False
    except OSError as exc:
        raise StateError(f"{path}: cannot open the lock file ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise StateInUse(f"{state_dir}: in use by {who}; stop it first") from None
    if writable:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})\n".encode(), 0)
    return StateLock(path, fd)


def _open_read_only(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StateError(f"{path}: cannot open the lock file ({exc.strerror})") from None


def check_state(state_dir: Path, currency: str | None = None) -> DeviceKey:
    """Read the key and the database without writing; StateError naming the file on a problem.

    The one file change it makes is to finish a `stallbox rekey` cut short after its commit
    (appliance/services/key_files.py): the ledger then names a key `device.key` is not yet.

    With `currency` (the config's stall.currency), a ledger already kept in another currency is
    refused too: every receipt of one chain is in one currency (docs/receipt-format.md).
    """
    db_path = state_dir / DB_NAME
    if not db_path.exists():
        raise StateError(f"{db_path}: no database (run `stallbox init --state {state_dir}`)")
    key = load_key(state_dir)
    try:
        # Not mode=ro: a read-only connection to a WAL database leaves -wal and -shm files
        # behind. A query-only connection that closes last removes them, and reads nothing else.
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute("PRAGMA query_only = ON")
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_schema")}
            if not tables:  # the schema never committed: a power cut in `init` (tests/powercut)
                raise NotInitialised(
                    f"{db_path}: no tables: never initialised (run `stallbox init`)"
                )
            device_id = ledger_sql.get_meta(conn, DEVICE_ID)
            signer = ledger_sql.get_meta(conn, KEY_ID)
            first = conn.execute("SELECT line FROM receipts WHERE seq = 0").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise describe_error(db_path, exc) from None
    if device_id is None:
        raise NotInitialised(f"{db_path}: no device id: never initialised (run `stallbox init`)")
    if signer is not None and key.key_id != signer:
        key = current_key(state_dir, signer)  # a rekey cut short: finish it
    if device_id != key.key_id and signer != key.key_id:
        raise ForeignDatabase(foreign_message(db_path, device_id, key.key_id))
    if currency is not None and first is not None:
        try:
            kept = parse_receipt(first[0]).currency
        except ReceiptFormatError as exc:
            raise StateError(
                f"{db_path}: receipt 0 is unreadable ({exc}); run `stallbox ledger verify`"
            ) from None
        if kept != currency:
            raise StateError(
                f"{db_path}: this box's ledger is kept in {kept}, but stallbox.toml says "
                f"stall.currency = {currency!r}; one chain has one currency: set it back to "
                f"{kept!r} (or start a new box with its own key and database)"
            )
    return key


def foreign_message(db_path: Path, device_id: str, key_id: str) -> str:
    """The refusal of a database that belongs to another device."""
    return (
        f"{db_path}: belongs to device {device_id}, but this box's key is {key_id}; "
        "restore this box's own database, or that box's key with it"
    )
