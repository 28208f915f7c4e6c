"""SQL for the sync daemon's side of the ledger: what to send next and what the cloud proved.

The daemon opens the node's database with its own connection. It reads receipts past
`acked_seq` and writes only the `sync_state` row, each write one short BEGIN IMMEDIATE, so the
node stays the only writer of everything a sale touches. The node reads the same row for
/api/sync and the console.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Pending:
    """One receipt waiting for the cloud, as it goes on the wire."""

    seq: int
    line: str
    items: str


@dataclass(frozen=True, slots=True)
class SyncState:
    """The sync_state row: the acknowledged seq and what the daemon last knew of the cloud."""

    acked_seq: int
    checkpoint: str | None  # the last signed checkpoint the daemon verified
    tree_size: int
    cloud_seq: int | None  # the cloud's head seq for this device, as last reported
    last_contact: str | None  # ISO time of the last answer from the cloud (or the relay)
    last_error: str | None  # why the last attempt failed; None after a success
    stopped: str | None  # why the stream is stopped for the operator (a 409, a bad proof)
    via: str | None  # "cloud", or "peer NAME" when a neighbouring box relays
    incident: str | None = None  # the cloud's log rolled back: what and when (never cleared)
    paused: str | None = None  # why the daemon holds uploads on purpose ("drop": a rush)
    paused_until: str | None = None  # ISO time (the box's clock) the hold ends at the latest


_STATE_COLUMNS = (
    "acked_seq, checkpoint, tree_size, cloud_seq, last_contact, last_error, stopped, via, incident,"
    " paused, paused_until"
)


def read_state(conn: sqlite3.Connection) -> SyncState:
    """Return the sync_state row."""
    row = conn.execute(f"SELECT {_STATE_COLUMNS} FROM sync_state WHERE id = 1").fetchone()  # noqa: S608 - constant
    return SyncState(*row)


def pending(conn: sqlite3.Connection, after_seq: int, limit: int, max_bytes: int) -> list[Pending]:
    """Return up to `limit` receipts after `after_seq`, in order, within about `max_bytes`.

    The first receipt is always returned, however large, so the stream can never stall.
    """
    rows = conn.execute(
        "SELECT seq, line, items FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    batch: list[Pending] = []
    size = 0
    for seq, line, items in rows:
        size += len(line) + len(items) + items.count('"') + 48  # JSON escapes, punctuation, seq
        if batch and size > max_bytes:
            break
        batch.append(Pending(seq, line, items))
    return batch


def _update(conn: sqlite3.Connection, assignments: str, values: tuple[object, ...]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"UPDATE sync_state SET {assignments} WHERE id = 1", values)  # noqa: S608 - callers pass constants
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def record_ack(
    conn: sqlite3.Connection, seq: int, checkpoint: str, tree_size: int, via: str, at: datetime
) -> None:
    """Store a verified acknowledgement: acked_seq (never backwards) and its checkpoint."""
    _update(
        conn,
        "acked_seq = max(acked_seq, ?), checkpoint = ?, tree_size = ?, cloud_seq = ?,"
        " last_contact = ?, last_error = NULL, via = ?, updated_at = ?",
        (seq, checkpoint, tree_size, seq, at.isoformat(), via, at.isoformat()),
    )


def record_error(conn: sqlite3.Connection, error: str, at: datetime) -> None:
    """Remember why the last attempt failed (the link, a timeout, a 5xx)."""
    _update(conn, "last_error = ?, updated_at = ?", (error, at.isoformat()))


def record_contact(conn: sqlite3.Connection, cloud_seq: int, via: str, at: datetime) -> None:
    """Remember that the cloud answered and where its head is for this device."""
    _update(
        conn,
        "cloud_seq = ?, last_contact = ?, last_error = NULL, via = ?, updated_at = ?",
        (cloud_seq, at.isoformat(), via, at.isoformat()),
    )


def record_stop(conn: sqlite3.Connection, reason: str, cloud_seq: int | None, at: datetime) -> None:
    """Stop the stream for the operator: the cloud refused the chain or failed a proof."""
    _update(
        conn,
        "stopped = ?, last_error = ?, cloud_seq = coalesce(?, cloud_seq), updated_at = ?",
        (reason, reason, cloud_seq, at.isoformat()),
    )


def record_new_epoch(conn: sqlite3.Connection, cloud_seq: int, incident: str, at: datetime) -> None:
    """The cloud's log was rolled back and a new epoch began: send again from its head.

    The only way acked_seq goes back: what the cloud lost is sent again and proven in the new
    epoch (no checkpoint of it known yet). The incident stays for the operator to see.
    """
    _update(
        conn,
        "acked_seq = min(acked_seq, ?), checkpoint = NULL, tree_size = 0, cloud_seq = ?,"
        " incident = ?, stopped = NULL, last_error = NULL, updated_at = ?",
        (cloud_seq, cloud_seq, incident, at.isoformat()),
    )


def record_funnel_sent(conn: sqlite3.Connection, minute: str, at: datetime) -> None:
    """Remember the last funnel minute the cloud stored."""
    _update(conn, "funnel_sent = ?, updated_at = ?", (minute, at.isoformat()))


def clear_stop(conn: sqlite3.Connection, at: datetime) -> None:
    """Let the stream run again after the operator dealt with a stop."""
    _update(conn, "stopped = NULL, last_error = NULL, updated_at = ?", (at.isoformat(),))


def in_rush(conn: sqlite3.Connection, now: datetime, window: timedelta) -> bool:
    """Return whether a drop started within `window` and still has units: checkout comes first."""
    return rush_until(conn, now, window) is not None


def rush_until(conn: sqlite3.Connection, now: datetime, window: timedelta) -> datetime | None:
    """Return when the rush ends at the latest (the last started drop with units, plus `window`).

    None when no rush is on. It may end sooner: the drop sells out.
    """
    row = conn.execute(
        "SELECT max(starts_at) FROM drops WHERE starts_at <= ? AND starts_at >= ?"
        " AND taken < quantity",
        (now.isoformat(), (now - window).isoformat()),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return datetime.fromisoformat(row[0]) + window


def record_pause(
    conn: sqlite3.Connection, reason: str | None, until: datetime | None, at: datetime
) -> None:
    """Say why and until when uploads are held on purpose (a drop's rush); None, None: not held."""
    stored = until.isoformat() if until is not None else None
    _update(
        conn,
        "paused = ?, paused_until = ?, updated_at = ?",
        (reason, stored, at.isoformat()),
    )


def active_pause(state: SyncState, now: datetime) -> tuple[str, str] | None:
    """(reason, until) of a hold still on at `now`; None once its time passed.

    A daemon stopped mid-rush leaves its row behind: the time bounds what it says.
    """
    if state.paused is None or state.paused_until is None:
        return None
    try:
        until = datetime.fromisoformat(state.paused_until)
    except ValueError:
        return None
    if until.tzinfo is None or until <= now:
        return None
    return state.paused, state.paused_until
