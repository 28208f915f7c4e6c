"""What the bank watch reads: the orders on a rail that wait for the bank's word.

Two kinds wait: orders tendered on the rail and not yet paid (the attendee is paying now), and
sales on the rail confirmed by sight with no bank evidence yet (an offline confirmation, or a
statement that said unmatched). Also the end-to-end ids already used as bank evidence, so a
provider listing one again, or under another order, is caught.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from appliance.domain.money import Money
from appliance.domain.provider_match import Watched
from appliance.store import evidence as evidence_sql
from appliance.store.orders import load_order


@dataclass(frozen=True, slots=True)
class Waiting:
    """The watched orders and the earliest time any of them began waiting."""

    orders: tuple[Watched, ...]
    since: datetime | None
    paying: int  # how many wait for payment now (the rest are sold, unverified)
    banked: frozenset[str] = frozenset()  # references of the rail's sales already bank-confirmed


def waiting(conn: sqlite3.Connection, rail: str, paid_since: datetime | None) -> Waiting:
    """Orders on `rail` waiting for payment (read with the orders_by_state index: cheap every
    second), and, unless `paid_since` is None, its sales since then without bank evidence."""
    found: list[Watched] = []
    times: list[datetime] = []
    for order_id, updated in conn.execute(
        "SELECT id, updated_at FROM orders WHERE state = 'awaiting_payment' AND tender = ?",
        (rail,),
    ):
        order = load_order(conn, str(order_id))
        found.append(Watched(order.id, order.reference or "", order.total, paid=False))
        times.append(datetime.fromisoformat(str(updated)))
    paying = len(found)
    if paid_since is None:
        return Waiting(tuple(found), min(times) if times else None, paying)
    recorded = evidence_sql.recorded(conn)
    banked: set[str] = set()
    for order_id, reference, currency, total, seq, at in conn.execute(
        "SELECT o.id, coalesce(o.reference, ''), o.currency, r.total, r.seq, r.created_at"
        " FROM orders o JOIN receipts r ON r.seq = o.receipt_seq"
        " WHERE o.state = 'paid' AND o.tender = ? AND r.created_at >= ?",
        (rail, paid_since.isoformat()),
    ):
        if "b" in recorded.get(int(seq), set()):
            banked.add(str(reference))
            continue
        found.append(Watched(str(order_id), str(reference), Money(int(total), str(currency)), True))
        times.append(datetime.fromisoformat(str(at)))
    return Waiting(tuple(found), min(times) if times else None, paying, frozenset(banked))


def settled(conn: sqlite3.Connection) -> dict[str, str]:
    """The end-to-end ids (and bank ids) already bank evidence, each with its order's id."""
    return {
        str(credit)[3:]: str(order_id)
        for order_id, credit in conn.execute(
            "SELECT order_id, json_extract(items, '$.credit') FROM receipts"
            " WHERE kind = 'evidence' AND json_extract(items, '$.state') = 'bank'"
        )
        if str(credit).startswith("id:")
    }
