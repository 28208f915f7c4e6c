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

from appliance.ledger.chain import ChainSummary, verify_chain
from appliance.ledger.identity import load_key
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME, describe_error, open_sync
from appliance.store.errors import StoreError


def _open(state_dir: Path) -> sqlite3.Connection:
    path = state_dir / DB_NAME
    if not path.exists():
        raise StoreError(f"{path}: no database (run `stallbox init --state {state_dir}`)")
    return open_sync(path, readonly=True)


def verify_state(state_dir: Path) -> ChainSummary:
    """Verify the whole chain of a state dir: links, signatures, items and totals."""
    key = load_key(state_dir)
    with closing(_open(state_dir)) as conn:
        try:
            rows = list(ledger_sql.iter_receipts(conn))
        except sqlite3.Error as exc:
            raise describe_error(state_dir / DB_NAME, exc) from None
    items = {row.seq: json.loads(row.items) for row in rows}
    return verify_chain((row.line for row in rows), key.public, items=items)


def export_lines(state_dir: Path, after_seq: int = -1) -> Iterator[str]:
    """Yield the receipt lines with seq > after_seq, in order."""
    with closing(_open(state_dir)) as conn:
        try:
            for row in ledger_sql.iter_receipts(conn, after_seq):
                yield row.line
        except sqlite3.Error as exc:
            raise describe_error(state_dir / DB_NAME, exc) from None
