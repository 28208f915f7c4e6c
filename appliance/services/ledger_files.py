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

from appliance.ledger.chain import ChainHead, ChainSummary, split_export, verify_chain
from appliance.ledger.identity import load_key, parse_public_keys
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
    return verify_chain(lines, key.public, items=items, known_head=known_head)


def export_lines(state_dir: Path, after_seq: int = -1) -> Iterator[str]:
    """Yield the receipt lines with seq > after_seq, in order."""
    with closing(_open(state_dir)) as conn:
        try:
            for row in ledger_sql.iter_receipts(conn, after_seq):
                yield row.line
        except sqlite3.Error as exc:
            raise describe_error(state_dir / DB_NAME, exc) from None
