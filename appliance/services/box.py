"""A box's state dir, opened: the device key, the one writer and the signing of receipts.

`init_state` makes a state dir once (key, database with the start receipt, a commented sample
config); `Box.open` opens it for a node or a CLI command. A state dir whose key is missing or
garbled is never "repaired" with a new key: that would fork the device's receipt chain.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.config import CONFIG_NAME, sample_config
from appliance.domain.clock import receipt_time
from appliance.durable import make_dirs, write_atomic
from appliance.errors import StateError
from appliance.ledger.chain import ChainHead
from appliance.ledger.identity import (
    KEY_FILE,
    DeviceKey,
    create_key,
    key_id,
    load_key,
    public_key_text,
)
from appliance.ledger.receipt import (
    JsonValue,
    Receipt,
    ReceiptType,
    build_receipt,
    canonical_items,
)
from appliance.services.key_files import KEY_ID, chain_keys, current_key
from appliance.services.state_dir import (
    DEVICE_ID,
    ForeignDatabase,
    NotInitialised,
    check_state,
    foreign_message,
    lock_state,
)
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME
from appliance.store.writer import Writer

EPOCH = "epoch"
CHAIN_MARKER = "chain.json"  # written once the start receipt is durable: the chain exists
ACCOUNT_FILE = "cloud.json"  # services/cloud_account.py's: enrolled, so the cloud holds the chain


@dataclass(frozen=True, slots=True)
class InitReport:
    """What `stallbox init` did."""

    state_dir: Path
    created_key: bool
    created_db: bool
    wrote_config: bool
    device_id: str


def _device_id(conn: sqlite3.Connection) -> str:
    stored = ledger_sql.get_meta(conn, DEVICE_ID)
    if stored is None:
        raise StateError(
            "database has no device id: it was never initialised (run `stallbox init`)"
        )
    return stored


def init_state(state_dir: Path, currency: str, at: datetime) -> InitReport:
    """Create (or finish creating) a state dir; running it again changes nothing."""
    try:
        make_dirs(state_dir, mode=0o700)  # durable: a power cut must not take the dir away
    except OSError as exc:
        raise StateError(f"{state_dir}: cannot create the state dir ({exc.strerror})") from None
    with lock_state(state_dir, "stallbox init"):
        return _init_locked(state_dir, currency, at)


def _init_locked(state_dir: Path, currency: str, at: datetime) -> InitReport:
    key_path, db_path = state_dir / KEY_FILE, state_dir / DB_NAME
    if key_path.exists() and db_path.exists():
        with contextlib.suppress(NotInitialised):  # what this init is here to finish
            check_state(state_dir)  # a garbled or foreign database is refused before any write
    if key_path.exists():
        key, created_key = load_key(state_dir), False
        if not db_path.exists():
            refuse_second_chain(state_dir, key.key_id)
    elif db_path.exists():
        raise StateError(
            f"{key_path}: missing, but {db_path} holds a ledger; restore the key from a backup "
            "(a new key would fork this device's receipt chain)"
        )
    else:
        key, created_key = create_key(state_dir), True
    created_db = not db_path.exists()
    writer = Writer.open(db_path)
    try:

        def start(conn: sqlite3.Connection) -> str:
            device_id = ledger_sql.get_meta(conn, DEVICE_ID)
            signer = ledger_sql.get_meta(conn, KEY_ID) or device_id  # rekeyed: not the device id
            if device_id is not None and signer != key.key_id:
                raise ForeignDatabase(foreign_message(db_path, device_id, key.key_id))
            if device_id is not None:
                return device_id
            ledger_sql.set_meta(conn, DEVICE_ID, key.key_id)
            ledger_sql.set_meta(conn, EPOCH, "0")
            items = {"device": key.key_id, "pubkey": public_key_text(key.public)}
            box = Box(state_dir, key, key.key_id, 0, currency, writer)
            box.append(conn, kind=ReceiptType.START, at=at, total=0, items=items)
            return key.key_id

        device_id = writer.run_sync(start)
    finally:
        writer.close()
    write_chain_marker(state_dir, device_id)
    config_path = state_dir / CONFIG_NAME
    wrote_config = not config_path.exists()
    if wrote_config:
        write_atomic(config_path, sample_config(currency).encode(), mode=0o644)
    return InitReport(state_dir, created_key, created_db, wrote_config, device_id)


CLOCK_ALARM = "clock_alarm"  # the last time the clock was found behind, and why
CLOCK_ALARMS = "clock_alarms"  # how many receipts carried a time other than the clock's


def record_clock_alarm(conn: sqlite3.Connection, alarm: str, clock: datetime) -> None:
    """Remember that a receipt could not carry the clock's time (the console shows it)."""
    value = json.dumps({"alarm": alarm, "clock": clock.isoformat()})
    ledger_sql.set_meta(conn, CLOCK_ALARM, value)
    ledger_sql.add_meta_count(conn, CLOCK_ALARMS, 1)


def write_chain_marker(state_dir: Path, device_id: str) -> None:
    """Note beside the key that this device's chain exists (once its start receipt is durable)."""
    path = state_dir / CHAIN_MARKER
    if not path.exists():
        text = json.dumps({"device": device_id, "chain": "started"}) + "\n"
        write_atomic(path, text.encode(), mode=0o644)


def refuse_second_chain(state_dir: Path, device_id: str) -> None:
    """StateError if the state dir shows this device's chain exists elsewhere: init would fork it.

    A key without a database is either an init cut short (then go on) or a lost database. The
    marker written once the start receipt was durable, or an enrolment with a cloud (which then
    holds the chain), tells the second from the first.
    """
    enrolled = state_dir / ACCOUNT_FILE
    if enrolled.exists():
        raise StateError(
            f"{state_dir / DB_NAME}: missing, but device {device_id} is enrolled with a cloud "
            f"({enrolled.name}), which holds its chain: run `stallbox restore --from-cloud` "
            "(a new chain at seq 0 would fork it)"
        )
    if (state_dir / CHAIN_MARKER).exists():
        raise StateError(
            f"{state_dir / DB_NAME}: missing, but device {device_id}'s chain was started here "
            f"({CHAIN_MARKER}): restore the database from a backup, or enrol and run `stallbox "
            "restore --from-cloud` (a new chain at seq 0 would fork it)"
        )


@dataclass(slots=True)
class Box:
    """An opened state dir: who the device is and the writer that appends to its ledger."""

    state_dir: Path
    key: DeviceKey
    device_id: str
    epoch: int
    currency: str
    writer: Writer
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)  # every epoch's, by key id

    def public_key(self, key_id: str) -> Ed25519PublicKey | None:
        """The public key of one of this device's epochs (the current one, or a retired one)."""
        return self.key.public if key_id == self.key.key_id else self.keys.get(key_id)

    @classmethod
    def open(cls, state_dir: Path, currency: str) -> Box:
        """Open the key and the database of an initialised state dir."""
        db_path = state_dir / DB_NAME
        if not db_path.exists():
            raise StateError(f"{db_path}: no database (run `stallbox init --state {state_dir}`)")
        key = load_key(state_dir)
        writer = Writer.open(db_path)
        try:
            device_id, epoch, signer, rows = writer.run_sync(
                lambda conn: (
                    _device_id(conn),
                    ledger_sql.get_meta(conn, EPOCH) or "0",
                    ledger_sql.get_meta(conn, KEY_ID),
                    ledger_sql.key_rows(conn),
                )
            )
            if signer is not None and key.key_id != signer:
                key = current_key(state_dir, signer)  # a rekey cut short: finish it
        except BaseException:
            writer.close()
            raise
        if key.key_id != (signer or device_id):  # check_state refuses this before any write
            writer.close()
            raise ForeignDatabase(foreign_message(db_path, device_id, key.key_id))
        keys = {key_id(public): public for public in chain_keys(rows)}
        return cls(state_dir, key, device_id, int(epoch), currency, writer, keys)

    def append(
        self,
        conn: sqlite3.Connection,
        *,
        kind: ReceiptType,
        at: datetime,
        total: int,
        items: JsonValue | bytes,
        ref: str = "",
        order_id: str | None = None,
        head: tuple[ChainHead, datetime | None] | None = None,
    ) -> Receipt:
        """Sign the next receipt on the chain head and insert it, inside the caller's transaction.

        Its time is `at`, but never before the last receipt's nor the build date
        (appliance/domain/clock.py); when the clock is behind, the alarm is recorded, and the
        sale goes through. `head`: the head and its time as the caller read them in this
        transaction (store/sales.py reads them with the order), else read here. A head gone
        stale could only fail the INSERT (seq is the key), never fork the chain. `items` may be
        given already canonical (bytes; a sale's lines: ledger/receipt.py canonical_sale_lines).
        """
        tip, last = ledger_sql.chain_head_and_time(conn) if head is None else head
        stamped = receipt_time(at, last)
        if stamped.alarm is not None:
            record_clock_alarm(conn, stamped.alarm, at)
            at = stamped.at
        canonical = items if isinstance(items, bytes) else canonical_items(items)
        receipt = build_receipt(
            self.key,
            device_id=self.device_id,
            epoch=self.epoch,
            seq=tip.next_seq,
            at=at,
            kind=kind,
            currency=self.currency,
            total=total,
            items=canonical,
            prev_hash=tip.prev_hash,
            ref=ref,
        )
        ledger_sql.append_receipt(conn, receipt, canonical, order_id)
        return receipt

    def close(self) -> None:
        """Close the writer (finishing queued transactions)."""
        self.writer.close()


def default_state_dir() -> Path:
    """$STALLBOX_STATE, else systemd's $STATE_DIRECTORY, else ~/.local/state/stallbox."""
    for name in ("STALLBOX_STATE", "STATE_DIRECTORY"):
        value = os.environ.get(name)
        if value:
            return Path(value.split(":")[0])
    return Path.home() / ".local" / "state" / "stallbox"
