"""SQL for drops and their claims. Write functions run inside the writer's transaction.

A claim in a rush stores its row and the drop's counter only: the row carries its order's id,
number, tender, payment reference and the tender decision's reason, and `built` = 0 until the
order, its line and the decision are built from it (build_claimed_order, build_claimed_orders:
four set-based statements, the same rows an eager claim wrote). Until then the order has no row
of its own; orders.load_order builds it when asked for in a write transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from appliance.domain.drops import Drop
from appliance.domain.money import Money
from appliance.store.errors import NotBuilt, NotFound

_COLUMNS = "id, sku, name, price, currency, quantity, starts_at, per_attendee, hold_s"


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim on a drop."""

    id: int
    drop_id: int
    attendee: str
    qty: int
    place: int
    state: str
    order_id: str
    expires_at: datetime


def _drop(row: tuple[int, str, str, int, str, int, str, int, int]) -> Drop:
    id_, sku, name, price, currency, quantity, starts, per_attendee, hold_s = row
    return Drop(id_, sku, name, Money(price, currency), quantity, datetime.fromisoformat(starts),
                per_attendee, timedelta(seconds=hold_s))  # fmt: skip


def insert_drop(conn: sqlite3.Connection, drop: Drop, at: datetime) -> Drop:
    """Store a new drop; return it with its id."""
    cursor = conn.execute(
        "INSERT INTO drops (sku, name, price, currency, quantity, starts_at, per_attendee, hold_s,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (drop.sku, drop.name, drop.price.minor, drop.price.currency, drop.quantity,
         drop.starts_at.isoformat(), drop.per_attendee, int(drop.hold.total_seconds()), at.isoformat()),
    )  # fmt: skip
    return load_drop(conn, int(cursor.lastrowid or 0))


def load_drop(conn: sqlite3.Connection, drop_id: int) -> Drop:
    """One drop; NotFound if there is none."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM drops WHERE id = ?", (drop_id,)).fetchone()  # noqa: S608
    if row is None:
        raise NotFound(f"no drop {drop_id}")
    return _drop(row)


def list_drops(conn: sqlite3.Connection) -> list[Drop]:
    """Every drop, newest first."""
    return [_drop(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM drops ORDER BY id DESC")]  # noqa: S608


def units_taken(conn: sqlite3.Connection, drop_id: int) -> int:
    """Units held or paid on a drop (a counter kept with every claim and expiry)."""
    row = conn.execute("SELECT taken FROM drops WHERE id = ?", (drop_id,)).fetchone()
    if row is None:
        raise NotFound(f"no drop {drop_id}")
    return int(row[0])


def units_held_by_each(conn: sqlite3.Connection, drop_id: int) -> dict[str, int]:
    """Units each attendee holds or has paid for on a drop."""
    rows = conn.execute(
        "SELECT attendee, sum(qty) FROM drop_claims"
        " WHERE drop_id = ? AND state IN ('held', 'paid') GROUP BY attendee",
        (drop_id,),
    )
    return {str(attendee): int(units) for attendee, units in rows}


def first_hold_end(conn: sqlite3.Connection, drop_id: int) -> datetime | None:
    """When the first of a drop's holds ends, or None when it has none."""
    row = conn.execute(
        "SELECT min(expires_at) FROM drop_claims WHERE drop_id = ? AND state = 'held'", (drop_id,)
    ).fetchone()
    return None if row[0] is None else datetime.fromisoformat(row[0])


def take_units(conn: sqlite3.Connection, drop: Drop, qty: int) -> int:
    """Count `qty` more units of a drop as taken; return the claim's place in line.

    The CHECK on drops.taken makes an oversell impossible even for a caller that skipped the rules.
    """
    row = conn.execute(
        "UPDATE drops SET taken = taken + ?, claims = claims + 1 WHERE id = ? RETURNING claims",
        (qty, drop.id),
    ).fetchone()
    if row is None:
        raise NotFound(f"no drop {drop.id}")
    return int(row[0])


@dataclass(frozen=True, slots=True)
class ClaimOrder:
    """What a claim's order is built from later: its number, tender, reference, decision reason."""

    number: int
    tender: str
    reference: str
    reason: str


def insert_claim(
    conn: sqlite3.Connection,
    drop: Drop,
    attendee: str,
    qty: int,
    place: int,
    order_id: str,
    at: datetime,
    order: ClaimOrder | None = None,
) -> Claim:
    """Record a held claim at `place` (from take_units) for an order inserted, or to build (`order`)."""
    expires = at + drop.hold
    if order is None:
        cursor = conn.execute(
            "INSERT INTO drop_claims (drop_id, attendee, qty, place, state, order_id, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, 'held', ?, ?, ?)",
            (drop.id, attendee, qty, place, order_id, at.isoformat(), expires.isoformat()),
        )
    else:
        cursor = conn.execute(
            "INSERT INTO drop_claims (drop_id, attendee, qty, place, state, order_id, created_at,"
            " expires_at, number, tender, reference, reason, built)"
            " VALUES (?, ?, ?, ?, 'held', ?, ?, ?, ?, ?, ?, ?, 0)",
            (drop.id, attendee, qty, place, order_id, at.isoformat(), expires.isoformat(),
             order.number, order.tender, order.reference, order.reason),
        )  # fmt: skip
    return Claim(
        int(cursor.lastrowid or 0), drop.id, attendee, qty, place, "held", order_id, expires
    )


def claim_of_order(conn: sqlite3.Connection, order_id: str) -> Claim | None:
    """The claim an order was made for, if any."""
    row = conn.execute(
        "SELECT id, drop_id, attendee, qty, place, state, order_id, expires_at FROM drop_claims"
        " WHERE order_id = ?",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    claim_id, drop_id, attendee, qty, place, state, order = row[:7]
    return Claim(
        claim_id, drop_id, attendee, qty, place, state, order, datetime.fromisoformat(row[7])
    )


def set_claim_state(conn: sqlite3.Connection, claim: Claim, state: str) -> None:
    """Mark a claim paid or expired; an expired hold gives its units back to the drop."""
    conn.execute("UPDATE drop_claims SET state = ? WHERE id = ?", (state, claim.id))
    if state == "expired" and claim.state == "held":
        conn.execute("UPDATE drops SET taken = taken - ? WHERE id = ?", (claim.qty, claim.drop_id))


def expired_holds(
    conn: sqlite3.Connection, now: datetime, drop_id: int | None = None
) -> list[tuple[int, str]]:
    """(claim id, order id) of held claims whose hold has run out, of one drop or of all."""
    rows = conn.execute(
        "SELECT id, order_id FROM drop_claims WHERE state = 'held' AND expires_at <= ?1"
        " AND (?2 IS NULL OR drop_id = ?2)",
        (now.isoformat(), drop_id),
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


_FROM = " FROM drop_claims AS c JOIN drops AS d ON d.id = c.drop_id WHERE c.built = 0 AND "
_BUILD = (  # the rows an eager claim wrote: checkout.insert_order, policy.accept_tx (new order)
    "INSERT INTO orders (id, number, state, currency, tender, reference, note, created_at,"
    " updated_at) SELECT c.order_id, c.number, 'awaiting_payment', d.currency, c.tender,"
    " c.reference, '', c.created_at, c.created_at" + _FROM,
    "INSERT INTO order_lines (order_id, sku, name, unit_price, qty)"
    " SELECT c.order_id, d.sku, d.name, d.price, c.qty" + _FROM,
    "INSERT INTO decisions (at, order_id, rail, amount, currency, verdict, reason)"
    " SELECT c.created_at, c.order_id, c.tender, d.price * c.qty, d.currency, 'accept', c.reason"
    + _FROM,
    "UPDATE drop_claims AS c SET built = 1 WHERE c.built = 0 AND ",
)
_ONE = "c.order_id = ?"
_DUE = "c.id > ? AND c.id <= ? AND c.created_at <= ?"  # after a known-built one: a key range
EVERY_CLAIM = 2**63 - 1  # SQLite's largest rowid


def build_claimed_order(conn: sqlite3.Connection, order_id: str) -> bool:
    """Build the order of a claim that stored only its row; False when there is none to build.

    NotBuilt on a read-only connection (the writer's `read`): the caller builds it in a write
    transaction and reads again.
    """
    row = conn.execute(
        "SELECT 1 FROM drop_claims WHERE order_id = ? AND built = 0", (order_id,)
    ).fetchone()
    if row is None:
        return False
    if conn.execute("PRAGMA query_only").fetchone()[0]:
        raise NotBuilt(f"order {order_id!r} is a drop claim's, not built yet")
    for statement in _BUILD:
        conn.execute(statement + _ONE, (order_id,))
    return True


def build_claimed_orders(
    conn: sqlite3.Connection, claimed_by: datetime, after: int = 0, most: int = EVERY_CLAIM
) -> int:
    """Build the orders of the claims after claim id `after` made at `claimed_by` or before.

    At most the `most` claim ids after `after` (the sweep's bound per pass; the rest next time).
    """
    args = (after, min(after + most, EVERY_CLAIM), claimed_by.isoformat())
    for statement in _BUILD[:-1]:
        conn.execute(statement + _DUE, args)
    return conn.execute(_BUILD[-1] + _DUE, args).rowcount


def built_to(conn: sqlite3.Connection, after: int) -> tuple[int, bool]:
    """The claim id up to which every order is built, known built up to `after`; and if any waits."""
    row = conn.execute(
        "SELECT min(id) FROM drop_claims WHERE id > ? AND built = 0", (after,)
    ).fetchone()
    if row[0] is not None:
        return int(row[0]) - 1, True
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM drop_claims").fetchone()[0]), False
