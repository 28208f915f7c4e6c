"""`stallbox restore --from-cloud`: rebuild a lost ledger from the cloud's copy, trusting none of it.

A box whose stallbox.db is lost but whose device.key and cloud.json are kept fetches its own
receipts back (`GET /v1/devices/{d}/ledger`, its device token; sync/cloud/restore.py), and
checks every one before writing anything: the signature under each epoch's key (the start's,
then each rekey's; the newest must be this box's `device.key`), the link to the line
before, the items hash and every type's rules (appliance.ledger.chain.verify_chain), from the
start receipt to the cloud's head. Only then is a new database written, beside the state dir's
files and renamed into place, with acked_seq at the last receipt (the cloud has them all), so
the node signs the next seq and the daemon sends from there.

Orders, drops and the catalogue's stock are not in the ledger and are not restored: the
catalogue comes back from the config at the node's start; the orders of receipts signed before
the loss cannot be voided from the console afterwards (docs/operations.md, "Lost database").
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.durable import fsync_dir
from appliance.errors import StateError
from appliance.ledger.chain import GENESIS, ChainHead, verify_chain
from appliance.ledger.errors import ChainBroken
from appliance.ledger.identity import key_id, load_key
from appliance.ledger.receipt import parse_receipt, unb64
from appliance.ledger.wire import Head, WireReceipt
from appliance.services.box import EPOCH, write_chain_marker
from appliance.services.cloud_account import cloud_tls, load_account
from appliance.services.key_files import KEY_ID, chain_keys
from appliance.services.state_dir import DEVICE_ID, lock_state
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME
from appliance.store.writer import Writer

PAGE = 1000
TIMEOUT_S = 30.0
TEMP_NAME = DB_NAME + ".restoring"


class LedgerPage(msgspec.Struct, frozen=True):
    """One page of the cloud's answer (sync/cloud/restore.py)."""

    device: str
    after: int
    receipts: list[WireReceipt]
    more: bool


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore wrote: how many receipts, the head, and the cloud's URL."""

    count: int
    head: ChainHead
    device: str
    url: str


def fetch(
    url: str,
    device: str,
    token: str,
    ca_file: str | None,
    transport: httpx.BaseTransport | None = None,
) -> tuple[Head, list[WireReceipt]]:
    """The cloud's head for `device` and every receipt it holds, in seq order."""
    verify = cloud_tls(ca_file) if url.startswith("https:") else False
    headers = {"Authorization": f"Bearer {token}"}
    got: list[WireReceipt] = []
    with httpx.Client(
        base_url=url, headers=headers, timeout=TIMEOUT_S, verify=verify, transport=transport
    ) as http:
        try:
            head = msgspec.json.decode(
                _ok(http.get(f"/v1/devices/{device}/head")).content, type=Head
            )
            after = -1
            while True:
                answer = http.get(
                    f"/v1/devices/{device}/ledger", params={"after": after, "limit": PAGE}
                )
                page = msgspec.json.decode(_ok(answer).content, type=LedgerPage)
                got.extend(page.receipts)
                if not page.more or not page.receipts:
                    break
                after = page.receipts[-1].seq
        except httpx.TransportError as exc:
            raise StateError(f"{url}: the cloud did not answer ({exc}); try again online") from None
        except msgspec.DecodeError as exc:
            raise StateError(f"{url}: not a stallbox cloud's answer ({exc})") from None
    return head, got


def _ok(answer: httpx.Response) -> httpx.Response:
    if answer.is_success:
        return answer
    raise StateError(f"the cloud refused {answer.request.url.path}: {answer.status_code} "
                     f"{answer.text[:200]}")  # fmt: skip


def restore_from_cloud(state_dir: Path, transport: httpx.BaseTransport | None = None) -> Restored:
    """Rebuild STATE/stallbox.db from the cloud's copy; refuse if a database is there."""
    with lock_state(state_dir, "stallbox restore"):
        db_path = state_dir / DB_NAME
        if db_path.exists():
            raise StateError(f"{db_path}: a ledger is here; restore only into a state dir that "
                             "lost it (move this one away first, never over it)")  # fmt: skip
        key = load_key(state_dir)
        account = load_account(state_dir)
        head, receipts = fetch(
            account.url, account.device, account.api_token, account.ca_file, transport
        )
        if head.seq < 0 or not receipts:
            raise StateError(f"{account.url}: holds no receipt of {account.device}; nothing to "
                             "restore (a new chain would be this device's first: `stallbox init`)")  # fmt: skip
        keys = chain_keys((parse_receipt(r.line).kind.value, r.items) for r in receipts)
        newest = key_id(keys[-1]) if keys else account.device
        if newest != key.key_id:
            raise StateError(f"{state_dir}: cloud.json is for device {account.device}, whose "
                             f"newest key is {newest}; device.key is {key.key_id}")  # fmt: skip
        done = verified(account.url, account.device, [key.public, *keys], head, receipts)
        _write(state_dir, account.device, receipts, key.key_id, len(keys) - 1)
        write_chain_marker(state_dir, account.device)
        return Restored(len(receipts), done, account.device, account.url)


def insert_verified(conn: sqlite3.Connection, receipts: list[WireReceipt]) -> None:
    """Insert receipts that verify_chain accepted (their orders are not known: NULL)."""
    conn.executemany(
        "INSERT INTO receipts (seq, line, items, kind, total, order_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, NULL, ?)",
        [(r.seq, r.line, r.items, p.kind.value, p.total, p.time.isoformat())
         for r in receipts for p in (parse_receipt(r.line),)],
    )  # fmt: skip


def verified(
    url: str,
    device: str,
    keys: list[Ed25519PublicKey],
    head: Head,
    receipts: list[WireReceipt],
    start: ChainHead = GENESIS,
) -> ChainHead:
    """Check the cloud's receipts from `start` to its head under the device's `keys`."""
    known = ChainHead(head.seq + 1, unb64(head.hash, 16, "head.hash"))
    items = {r.seq: json.loads(r.items) for r in receipts}
    try:
        summary = verify_chain((r.line for r in receipts), keys, start=start,
                               items=items, known_head=known)  # fmt: skip
    except ChainBroken as exc:
        rule = f" (rule {exc.rule})" if exc.rule is not None else ""
        raise StateError(f"{url}: its copy fails verification at seq {exc}{rule}; "
                         "nothing was written") from None  # fmt: skip
    if summary.head != known or (summary.device_id not in (None, device)):
        raise StateError(f"{url}: its chain is not this device's up to its head")
    return summary.head


def _write(
    state_dir: Path, device: str, receipts: list[WireReceipt], signer: str, epoch: int
) -> None:
    """Write the verified receipts into a new database, then rename it into place."""
    temp = state_dir / TEMP_NAME
    for leftover in (temp, temp.with_name(TEMP_NAME + "-wal"), temp.with_name(TEMP_NAME + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    last = parse_receipt(receipts[-1].line)
    now = datetime.now(UTC).isoformat()

    def fill(conn: sqlite3.Connection) -> None:
        ledger_sql.set_meta(conn, DEVICE_ID, device)
        ledger_sql.set_meta(conn, EPOCH, str(epoch))  # one more than the last's after a rekey
        if signer != device:
            ledger_sql.set_meta(conn, KEY_ID, signer)
        ledger_sql.set_meta(conn, "restored_from_cloud", now)
        insert_verified(conn, receipts)
        ledger_sql.set_acked_seq(conn, last.seq, now)  # the cloud holds every one of them

    writer = Writer.open(temp)
    try:
        writer.run_sync(fill)
    finally:
        writer.close()
    wal = temp.with_name(TEMP_NAME + "-wal")
    if wal.exists() and wal.stat().st_size:  # closing the last connection checkpoints it
        raise StateError(f"{wal}: not checkpointed; nothing was put in place, run it again")
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, state_dir / DB_NAME)
    fsync_dir(state_dir)
