"""Reading a state dir's ledger from outside the node: verify it, export it.

These open their own read-only connection, so they run safely beside a live node (WAL lets a
second process read while the node writes).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.ledger.chain import ChainHead, ChainSummary, split_export, verify_chain
from appliance.ledger.errors import KeyFileError
from appliance.ledger.identity import KEY_FILE, key_id, load_key, parse_public_keys
from appliance.services.key_files import chain_keys
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME, describe_error, open_sync
from appliance.store.errors import StoreError


def _open(state_dir: Path) -> sqlite3.Connection:
    path = state_dir / DB_NAME
    if not path.exists():
        raise StoreError(f"{path}: no database (run `stallbox init --state {state_dir}`)")
    return open_sync(path, readonly=True)


def verify_file(path: Path, key_text: str, known_head: ChainHead | None = None) -> ChainSummary:
    """Verify an export file (no items at hand) under the keys in `key_text`, a text or a file.

    OSError if the file cannot be read; KeyFileError if `key_text` holds no valid key.
    """
    key_path = Path(key_text)
    if "\n" not in key_text and key_path.is_file():
        key_text = key_path.read_text(encoding="ascii", errors="replace")
    keys = parse_public_keys(key_text)
    return verify_chain(split_export(path.read_bytes()), keys, known_head=known_head)


def verify_state(state_dir: Path, known_head: ChainHead | None = None) -> ChainSummary:
    """Verify the whole chain of a state dir: links, signatures, items and totals."""
    key = load_key(state_dir)
    with closing(_open(state_dir)) as conn:
        try:
            rows = list(ledger_sql.iter_receipts(conn))
        except sqlite3.Error as exc:
            raise describe_error(state_dir / DB_NAME, exc) from None
    items = {row.seq: json.loads(row.items) for row in rows}
    lines = (row.line for row in rows)
    keys = chain_keys((row.kind, row.items) for row in rows)
    if keys and key_id(keys[-1]) != key.key_id:  # the ledger must end in this box's own key
        raise KeyFileError(
            f"{state_dir / KEY_FILE}: holds key {key.key_id}, but the ledger's newest key is "
            f"{key_id(keys[-1])} (a rekey cut short finishes when the node or a command opens "
            "the state dir)"
        )
    return verify_chain(lines, [key.public, *keys], items=items, known_head=known_head)


def state_public_keys(state_dir: Path) -> list[Ed25519PublicKey]:
    """The device's public keys of every epoch, oldest first (the start's, then each rekey's)."""
    with closing(_open(state_dir)) as conn:
        try:
            rows = ledger_sql.key_rows(conn)
        except sqlite3.Error as exc:
            raise describe_error(state_dir / DB_NAME, exc) from None
    return chain_keys(rows)


def export_lines(state_dir: Path, after_seq: int = -1) -> Iterator[str]:
    """Yield the receipt lines with seq > after_seq, in order."""
    with closing(_open(state_dir)) as conn:
        try:
            for row in ledger_sql.iter_receipts(conn, after_seq):
                yield row.line
        except sqlite3.Error as exc:
            raise describe_error(state_dir / DB_NAME, exc) from None
