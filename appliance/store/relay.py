"""SQL for relaying: batches a peer without an uplink handed us, kept until the cloud answers.

The node stores a batch (through its one writer, durably, before it answers 202); the sync
daemon forwards the oldest queued one once its own outbox is empty and stores the cloud's answer
unchanged; the origin fetches that answer and checks the proofs itself. Bodies are kept byte for
byte as received: this box never parses them into something it could re-encode differently.

Bounded: a new batch from an origin drops that origin's *answered* batches it supersedes
(ending before its `from_seq`) and replaces a waiting one from the same `from_seq` (the origin's
batch grows while it waits); answers older than a day go; and per-origin caps (count and bytes)
and a total cap refuse more (RelayFull naming the cap, a 507 to the origin). A waiting batch is
never dropped for a later one: a stranger holding one genuine receipt line (a QR) could
otherwise drop the origin's whole queue with it (docs/security.md, "Neighbours").
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.store.errors import RelayFull
from appliance.store.syncstate import SyncState

MAX_QUEUED_PER_ORIGIN = 64
MAX_QUEUED_BYTES = 64 * 1024 * 1024
MAX_ORIGIN_BYTES = 8 * 1024 * 1024  # one origin's share: it takes eight to fill the relay
KEEP_ANSWERS = timedelta(days=1)
MAX_ANSWERS = 8  # answers returned to one poll, newest first
MAX_ANSWERED_PER_ORIGIN = 256  # answers kept per origin (the newest); their bodies are dropped
OK = 200


@dataclass(frozen=True, slots=True)
class Queued:
    """A relayed batch waiting for the cloud."""

    id: int
    origin: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Answered:
    """The cloud's answer to one relayed batch."""

    from_seq: int
    last_seq: int
    known_size: int
    status: int
    answer: str


def enqueue(
    conn: sqlite3.Connection,
    origin: str,
    span: tuple[int, int, int],
    body: bytes,
    now: datetime,
) -> int:
    """Store one batch (from_seq, last_seq, known_size) of `origin` unless it is held already.

    Return how many of the origin's batches wait for the cloud. Call inside a write transaction.
    """
    from_seq, last_seq, known_size = span
    conn.execute(
        "DELETE FROM relay_batches WHERE status IS NOT NULL"
        " AND ((origin = ? AND last_seq < ?) OR answered_at < ?)",
        (origin, from_seq, (now - KEEP_ANSWERS).isoformat()),
    )
    digest = hashlib.sha256(body).hexdigest()
    held = conn.execute(
        "SELECT id, status FROM relay_batches WHERE origin = ? AND digest = ?", (origin, digest)
    ).fetchone()
    if held is not None and held[1] is not None and held[1] != OK:
        # Handed again after a refusal (the origin was not enrolled yet, the relay was revoked,
        # the cloud found it altered): forward it again, as handed this time.
        conn.execute(
            "UPDATE relay_batches SET body = ?, status = NULL, answer = NULL, answered_at = NULL"
            " WHERE id = ?",
            (body, held[0]),
        )
    if held is None:
        conn.execute(
            "DELETE FROM relay_batches WHERE origin = ? AND from_seq = ? AND status IS NULL",
            (origin, from_seq),
        )
        _check_caps(conn, origin, len(body))
        conn.execute(
            "DELETE FROM relay_batches WHERE origin = ? AND status IS NOT NULL AND id NOT IN"
            " (SELECT id FROM relay_batches WHERE origin = ? AND status IS NOT NULL"
            " ORDER BY id DESC LIMIT ?)",
            (origin, origin, MAX_ANSWERED_PER_ORIGIN - 1),
        )
        conn.execute(
            "INSERT INTO relay_batches (origin, from_seq, last_seq, known_size, body, digest,"
            " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (origin, from_seq, last_seq, known_size, body, digest, now.isoformat()),
        )
    row = conn.execute(
        "SELECT count(*) FROM relay_batches WHERE origin = ? AND status IS NULL", (origin,)
    ).fetchone()
    return int(row[0])


def _check_caps(conn: sqlite3.Connection, origin: str, size: int) -> None:
    """RelayFull naming the cap if `origin`'s batch of `size` bytes is one too many."""
    count, mine, total = conn.execute(
        "SELECT count(*) FILTER (WHERE origin = ?),"
        " coalesce(sum(length(body)) FILTER (WHERE origin = ?), 0), coalesce(sum(length(body)), 0)"
        " FROM relay_batches WHERE status IS NULL",
        (origin, origin),
    ).fetchone()
    if count >= MAX_QUEUED_PER_ORIGIN:
        message = f"{count} batches of {origin} wait, at most {MAX_QUEUED_PER_ORIGIN}"
        raise RelayFull(message, "relay.max_batches_per_origin")
    if mine + size > MAX_ORIGIN_BYTES:
        message = f"{mine} bytes of {origin} wait, at most {MAX_ORIGIN_BYTES} per origin"
        raise RelayFull(message, "relay.max_bytes_per_origin")
    if total + size > MAX_QUEUED_BYTES:
        raise RelayFull(f"{total} bytes wait, at most {MAX_QUEUED_BYTES}", "relay.max_bytes")


def answers(
    conn: sqlite3.Connection, origin: str, after_seq: int, known: int | None = None
) -> list[Answered]:
    """Return the cloud's answers to `origin`'s batches that end after `after_seq`, newest first
    (only those of batches with `known_size` = `known`, if given: answers to batches others
    handed in the origin's name cannot push the origin's own out of a poll)."""
    rows = conn.execute(
        "SELECT from_seq, last_seq, known_size, status, answer FROM relay_batches"
        " WHERE origin = ? AND last_seq > ? AND status IS NOT NULL"
        " AND (? IS NULL OR known_size = ?) ORDER BY id DESC LIMIT ?",
        (origin, after_seq, known, known, MAX_ANSWERS),
    ).fetchall()
    return [Answered(*row) for row in rows]


def next_queued(conn: sqlite3.Connection) -> Queued | None:
    """Return the oldest batch still waiting for the cloud, or None."""
    row = conn.execute(
        "SELECT id, origin, body FROM relay_batches WHERE status IS NULL ORDER BY id LIMIT 1"
    ).fetchone()
    return None if row is None else Queued(row[0], row[1], bytes(row[2]))


def queued_count(conn: sqlite3.Connection) -> int:
    """Return how many relayed batches wait for the cloud."""
    return int(
        conn.execute("SELECT count(*) FROM relay_batches WHERE status IS NULL").fetchone()[0]
    )


def record_answer(
    conn: sqlite3.Connection, batch_id: int, status: int, answer: str, now: datetime
) -> None:
    """Store the cloud's answer to a forwarded batch, in its own BEGIN IMMEDIATE (the daemon)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE relay_batches SET status = ?, answer = ?, answered_at = ?, body = x''"
            " WHERE id = ?",  # forwarded: only its digest is needed now (a retry is held once)
            (status, answer, now.isoformat(), batch_id),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def has_uplink(state: SyncState, now: datetime, fresh: timedelta) -> bool:
    """Whether this box's daemon reached the cloud itself within `fresh`, and is not stopped."""
    if state.stopped is not None or state.via != "cloud" or state.last_contact is None:
        return False
    try:
        contact = datetime.fromisoformat(state.last_contact)
    except ValueError:
        return False
    return now - contact <= fresh


def record_cloud_contact(conn: sqlite3.Connection, at: datetime) -> None:
    """Remember that the cloud answered this box directly (a relayed batch, a head check)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "UPDATE sync_state SET last_contact = ?, last_error = NULL, via = 'cloud',"
            " updated_at = ? WHERE id = 1",
            (at.isoformat(), at.isoformat()),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
