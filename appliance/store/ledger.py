"""SQL for the receipt chain, the device's identity rows and the sync daemon's acked_seq.

Functions take a sqlite3 connection; write functions must run inside the writer's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from appliance.ledger.chain import GENESIS, ChainHead
from appliance.ledger.receipt import Receipt, line_hash, parse_time

CHUNK = 1000
TIME_FIELD = 5  # the UTC time is field 6 of a receipt line (docs/receipt-format.md)


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    """A receipt row: the signed line and the line items its hash covers."""

    seq: int
    line: str
    items: str  # RFC 8785 JSON
    kind: str
    order_id: str | None


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    """Return one value of the meta table, or None."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set one value of the meta table."""
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def key_rows(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(kind, items) of the receipts that name a key: the start and each rekey, in seq order."""
    rows = conn.execute(
        "SELECT kind, items FROM receipts WHERE kind IN ('start', 'rekey') ORDER BY seq"
    ).fetchall()
    return [(str(kind), str(items)) for kind, items in rows]


def add_meta_count(conn: sqlite3.Connection, key: str, amount: int) -> None:
    """Add to an integer kept in the meta table (created at 0)."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
        (key, str(amount), amount),
    )


def chain_head(conn: sqlite3.Connection) -> ChainHead:
    """Return where the next receipt must link: its seq and the hash of the last line."""
    row = conn.execute("SELECT seq, line FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return GENESIS
    return ChainHead(int(row[0]) + 1, line_hash(str(row[1])))


def chain_head_and_time(conn: sqlite3.Connection) -> tuple[ChainHead, datetime | None]:
    """The chain head and the time signed in its last line (None before the first)."""
    row = conn.execute("SELECT seq, line FROM receipts ORDER BY seq DESC LIMIT 1").fetchone()
    return head_after(None, None) if row is None else head_after(int(row[0]), str(row[1]))


def head_after(seq: int | None, line: str | None) -> tuple[ChainHead, datetime | None]:
    """The chain head after the receipt (seq, line) and the time it signed; GENESIS for None.

    For a caller that read the last receipt in a statement of its own (store/sales.py).
    """
    if seq is None or line is None:
        return GENESIS, None
    at = parse_time(line.split(";", TIME_FIELD + 1)[TIME_FIELD])  # a line this box built
    return ChainHead(seq + 1, line_hash(line)), at


def append_receipt(
    conn: sqlite3.Connection, receipt: Receipt, items_json: bytes, order_id: str | None
) -> None:
    """Insert a receipt; the caller built it on chain_head() in the same transaction."""
    conn.execute(
        "INSERT INTO receipts (seq, line, items, kind, total, order_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            receipt.seq,
            receipt.line,
            items_json.decode("utf-8"),
            receipt.kind.value,
            receipt.total,
            order_id,
            receipt.time.isoformat(),
        ),
    )


def receipt_count(conn: sqlite3.Connection) -> int:
    """Return how many receipts the ledger holds."""
    return int(conn.execute("SELECT count(*) FROM receipts").fetchone()[0])


def iter_receipts(conn: sqlite3.Connection, after_seq: int = -1) -> Iterator[StoredReceipt]:
    """Yield receipts with seq > after_seq in order, reading in chunks."""
    while True:
        rows = conn.execute(
            "SELECT seq, line, items, kind, order_id FROM receipts WHERE seq > ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, CHUNK),
        ).fetchall()
        for row in rows:
            yield StoredReceipt(int(row[0]), str(row[1]), str(row[2]), str(row[3]), row[4])
        if len(rows) < CHUNK:
            return
        after_seq = int(rows[-1][0])


def get_receipt(conn: sqlite3.Connection, seq: int) -> StoredReceipt | None:
    """Return the receipt at `seq`, or None."""
    row = conn.execute(
        "SELECT seq, line, items, kind, order_id FROM receipts WHERE seq = ?", (seq,)
    ).fetchone()
    return None if row is None else StoredReceipt(int(row[0]), row[1], row[2], row[3], row[4])


def acked_seq(conn: sqlite3.Connection) -> int:
    """Return the highest seq the cloud has acknowledged (-1 for none)."""
    return int(conn.execute("SELECT acked_seq FROM sync_state WHERE id = 1").fetchone()[0])


def set_acked_seq(conn: sqlite3.Connection, seq: int, at: str) -> None:
    """Record the cloud's acknowledgement; it never moves backwards."""
    conn.execute(
        "UPDATE sync_state SET acked_seq = max(acked_seq, ?), updated_at = ? WHERE id = 1",
        (seq, at),
    )


def rewind_acked_seq(conn: sqlite3.Connection, seq: int, at: str) -> None:
    """Move acked_seq back to what the cloud holds and clear a stop: sync sends the rest again.

    Only for the recovery of a cloud that lost receipts it had acknowledged (a restored
    backup): every other acknowledgement only ever raises acked_seq (set_acked_seq).
    """
    conn.execute(
        "UPDATE sync_state SET acked_seq = ?, stopped = NULL, last_error = NULL, updated_at = ?"
        " WHERE id = 1",
        (seq, at),
    )


def outbox(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """How many receipts wait for the cloud, and when the oldest of them was signed.

    seq is gapless, so the depth is the head's seq minus acked_seq: two primary-key lookups
    instead of counting rows, which matters after a long offline day (it runs after every sale).
    """
    head = chain_head(conn).next_seq - 1
    acked = acked_seq(conn)
    row = conn.execute("SELECT created_at FROM receipts WHERE seq = ?", (acked + 1,)).fetchone()
    return max(0, head - acked), None if row is None else str(row[0])


def outbox_depth(conn: sqlite3.Connection) -> int:
    """Return how many receipts wait for the cloud."""
    return outbox(conn)[0]


def since_last_close(conn: sqlite3.Connection) -> dict[str, int]:
    """Sum the sales and voids after the last daily close: the next close receipt's items."""
    last = conn.execute("SELECT coalesce(max(seq), -1) FROM receipts WHERE kind = 'close'")
    after = int(last.fetchone()[0])
    head = chain_head(conn).next_seq
    sums = dict.fromkeys(("sale", "void"), (0, 0))
    for kind, count, total in conn.execute(
        "SELECT kind, count(*), coalesce(sum(total), 0) FROM receipts"
        " WHERE seq > ? AND kind IN ('sale', 'void') GROUP BY kind",
        (after,),
    ):
        sums[str(kind)] = (int(count), int(total))
    return {
        "from_seq": after + 1,
        "to_seq": head - 1,
        "sales": sums["sale"][0],
        "gross": sums["sale"][1],
        "voids": sums["void"][0],
        "voided": sums["void"][1],
    }
