"""Token revocation that a deleted or restored file cannot take back.

Operator tokens carry the token epoch they were issued in; a token of any other epoch is
refused. pairing.json states the epoch, but a file is easily deleted or copied back from a
backup, and either used to bring revoked tokens back to life. So the ledger's database keeps
the record: `token_epoch` in its meta table only ever rises, and the node's epoch is never
below it. Deleting pairing.json then changes nothing.

A state dir copied to a new SD card (or restored from a backup, or copied file by file) brings
its database along, with an older record. The database also remembers where it lives: the
inode of stallbox.db (not the device number, which a USB disk or a remount may change on a
reboot that moved nothing). When the node starts on a database that has moved, it draws a
new token realm, so every token issued before the move (on this card or the old one, of any
epoch) is refused and consoles pair again. (A
block-for-block image of the card keeps both numbers: after restoring one, run `stallbox pair
--revoke` — docs/operations.md, "New SD card".)
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import StateError
from appliance.services.pairing import Pairing, file_epoch, revoke_all
from appliance.store import ledger as ledger_sql
from appliance.store.errors import StoreError
from appliance.store.writer import Writer

log = logging.getLogger(__name__)
EPOCH_KEY = "token_epoch"
HOME = "db_home"
REALM = "token_realm"


def home_of(db_path: Path) -> str:
    """Where a database file lives: its inode number (a copy is a new file, a reboot keeps it)."""
    return str(os.stat(db_path).st_ino)


def floor_of(conn: sqlite3.Connection) -> int:
    """The ledger's token epoch (0 before any revocation)."""
    return int(ledger_sql.get_meta(conn, EPOCH_KEY) or 0)


def raise_floor_tx(epoch: int) -> Callable[[sqlite3.Connection], int]:
    """A transaction raising the ledger's token epoch to `epoch` (never lowering it)."""

    def tx(conn: sqlite3.Connection) -> int:
        now = max(floor_of(conn), epoch)
        ledger_sql.set_meta(conn, EPOCH_KEY, str(now))
        return now

    return tx


def revoke_tx(file: int) -> Callable[[sqlite3.Connection], int]:
    """A transaction moving the ledger's token epoch past both its own and the file's."""

    def tx(conn: sqlite3.Connection) -> int:
        now = max(floor_of(conn), file) + 1
        ledger_sql.set_meta(conn, EPOCH_KEY, str(now))
        return now

    return tx


@dataclass(frozen=True, slots=True)
class Started:
    """The token epoch and realm a node starts with, and whether its database had moved."""

    epoch: int
    realm: str
    moved: bool


def start_tx(home: str, file: int) -> Callable[[sqlite3.Connection], Started]:
    """At node start: take in the file's epoch; a database that moved gets a new token realm."""

    def tx(conn: sqlite3.Connection) -> Started:
        known = ledger_sql.get_meta(conn, HOME)
        epoch = max(floor_of(conn), file)
        realm = ledger_sql.get_meta(conn, REALM) or ""
        moved = known is not None and known != home
        if moved:
            realm = secrets.token_hex(8)
            ledger_sql.set_meta(conn, REALM, realm)
        if epoch != floor_of(conn):  # write only what changed: most starts write nothing
            ledger_sql.set_meta(conn, EPOCH_KEY, str(epoch))
        if known != home:
            ledger_sql.set_meta(conn, HOME, home)
        return Started(epoch, realm, moved)

    return tx


def write_file(state_dir: Path, epoch: int) -> None:
    """Bring pairing.json up to the ledger's epoch (it only ever says less after a loss)."""
    if file_epoch(state_dir) < epoch:
        revoke_all(state_dir, at_least=epoch)


def on_node_start(state_dir: Path, writer: Writer, pairing: Pairing) -> Started:
    """Set the node's token epoch from the ledger (raised if the database moved) and the file."""
    try:
        started = writer.run_sync(start_tx(home_of(writer.path), file_epoch(state_dir)))
    except StoreError as exc:  # a full disk must not stop the node: the ledger's record stands
        log.warning("token epoch not brought up to date (%s); using the ledger's as it is", exc)
        floor, realm = writer.run_sync(
            lambda conn: (floor_of(conn), ledger_sql.get_meta(conn, REALM) or "")
        )
        started = Started(max(floor, file_epoch(state_dir)), realm, False)
    if started.moved:
        log.warning(
            "%s has moved (a new SD card, or a restored copy): every console token issued "
            "before is refused; consoles pair again", writer.path,
        )  # fmt: skip
    try:
        write_file(state_dir, started.epoch)
    except StateError as exc:  # the ledger's epoch still rules every check
        log.warning("%s", exc)
    pairing.realm = started.realm
    pairing.raise_floor(started.epoch)
    pending: set[asyncio.Task[int]] = set()

    def record(epoch: int) -> None:  # `stallbox pair --revoke` wrote only the file: keep it
        task = asyncio.get_running_loop().create_task(writer.run(raise_floor_tx(epoch)))
        pending.add(task)
        task.add_done_callback(pending.discard)

    pairing.record = record
    return started


async def revoke_on_node(state_dir: Path, writer: Writer, pairing: Pairing) -> int:
    """Revoke every token from the running node: the ledger first, then the file."""
    epoch = await writer.run(revoke_tx(max(file_epoch(state_dir), pairing.floor)))
    pairing.raise_floor(epoch)
    write_file(state_dir, epoch)
    return epoch


def revoke_in_state(state_dir: Path, writer: Writer) -> int:
    """Revoke every token with the node stopped (the caller holds the state dir's lock)."""
    epoch = writer.run_sync(revoke_tx(file_epoch(state_dir)))
    write_file(state_dir, epoch)
    return epoch
