"""SQL of the redemptions a creator's boxes share, and of the over-redemptions they find.

This box's own redemptions are rows with box '' (a trigger on order_discounts writes them in the
order's transaction); a peer's carry its key id, seq and signature and are inserted, committed,
before anything counts them. Own ones count only while their order stands (a cancelled order
gives its units back here, as in store/orders.redeemed); a peer's always count.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appliance.store import orders as orders_sql

STANDING = "('open', 'awaiting_payment', 'paid')"


@dataclass(frozen=True, slots=True)
class Row:
    """A stored redemption (own: box '')."""

    box: str
    seq: int
    pass_id: str
    period: str
    units: int
    allowance: int
    at: str
    sig: str


@dataclass(frozen=True, slots=True)
class Over:
    """A pass used beyond its allowance in a period, as this box found it."""

    pass_id: str
    period: str
    used: int
    allowance: int
    found_at: str
    reported: bool


def counts(conn: sqlite3.Connection, pass_id: str, period: str) -> tuple[int, int]:
    """(units known redeemed, of them this box's own out of sight) for one pass and period."""
    own = orders_sql.redeemed(conn, pass_id, period)
    peers, mine_out = conn.execute(
        "SELECT coalesce(sum(CASE WHEN r.box != '' THEN r.units END), 0),"  # noqa: S608
        " coalesce(sum(CASE WHEN r.box = '' AND r.out_of_sight = 1"
        f" AND o.state IN {STANDING} THEN r.units END), 0)"
        " FROM pass_redemptions AS r LEFT JOIN orders AS o ON o.id = r.order_id"
        " WHERE r.pass_id = ? AND r.period = ?",
        (pass_id, period),
    ).fetchone()
    return own + int(peers), int(mine_out)


def own_after(conn: sqlite3.Connection, after: int, limit: int) -> list[Row]:
    """This box's own redemptions with seq > `after`, in seq order, at most `limit`."""
    return [
        Row("", *row)
        for row in conn.execute(
            "SELECT seq, pass_id, period, units, allowance, at, '' FROM pass_redemptions"
            " WHERE box = '' AND seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
    ]


def own_head(conn: sqlite3.Connection) -> int:
    """The highest seq of this box's own redemptions (0 for none)."""
    return int(
        conn.execute(
            "SELECT coalesce(max(seq), 0) FROM pass_redemptions WHERE box = ''"
        ).fetchone()[0]
    )


def lacking_allowance(conn: sqlite3.Connection) -> bool:
    """Whether some own redemption has no allowance written yet (a partial index answers)."""
    return (
        conn.execute(
            "SELECT 1 FROM pass_redemptions WHERE box = '' AND allowance = 0 LIMIT 1"
        ).fetchone()
        is not None
    )


def fill_allowances(conn: sqlite3.Connection, known: dict[tuple[str, str], int]) -> None:
    """Write the allowance of own rows that lack it, from what the pass desk saw."""
    rows = conn.execute(
        "SELECT DISTINCT pass_id, period FROM pass_redemptions WHERE box = '' AND allowance = 0"
    ).fetchall()
    for pass_id, period in rows:
        if (pass_id, period) in known:
            conn.execute(
                "UPDATE pass_redemptions SET allowance = ? WHERE box = '' AND allowance = 0"
                " AND pass_id = ? AND period = ?",
                (known[(pass_id, period)], pass_id, period),
            )


def mark_in_sight(conn: sqlite3.Connection, upto: int) -> None:
    """Every peer holds this box's redemptions up to `upto`: they were not out of sight."""
    conn.execute(
        "UPDATE pass_redemptions SET out_of_sight = 0 WHERE box = '' AND seq <= ?"
        " AND out_of_sight = 1",
        (upto,),
    )


def peer_head(conn: sqlite3.Connection, box: str) -> int:
    """The highest seq of a peer's redemptions held here (0 for none)."""
    return int(
        conn.execute(
            "SELECT coalesce(max(seq), 0) FROM pass_redemptions WHERE box = ?", (box,)
        ).fetchone()[0]
    )


def store_peer(conn: sqlite3.Connection, rows: list[Row], found_at: str) -> list[Over]:
    """Insert a peer's redemptions (each once); return the over-redemptions they reveal."""
    if not rows:
        return []
    conn.executemany(
        "INSERT OR IGNORE INTO pass_redemptions"
        " (box, seq, pass_id, period, units, allowance, out_of_sight, at, sig)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
        [(r.box, r.seq, r.pass_id, r.period, r.units, r.allowance, r.at, r.sig) for r in rows],
    )
    return [
        over
        for key in sorted({(r.pass_id, r.period) for r in rows})
        if (over := check_over(conn, *key, found_at)) is not None
    ]


def check_over(conn: sqlite3.Connection, pass_id: str, period: str, at: str) -> Over | None:
    """Record (or raise) the over-redemption of one pass and period, if it is over."""
    used, _ = counts(conn, pass_id, period)
    allowance = int(
        conn.execute(
            "SELECT coalesce(max(allowance), 0) FROM pass_redemptions"
            " WHERE pass_id = ? AND period = ?",
            (pass_id, period),
        ).fetchone()[0]
    )
    if allowance < 1 or used <= allowance:
        return None
    conn.execute(
        "INSERT INTO pass_overs (pass_id, period, used, allowance, found_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (pass_id, period) DO UPDATE SET used = excluded.used,"
        " allowance = excluded.allowance, reported = 0 WHERE excluded.used > pass_overs.used",
        (pass_id, period, used, allowance, at),
    )
    return Over(pass_id, period, used, allowance, at, False)


def overs(conn: sqlite3.Connection, unreported_only: bool = False) -> list[Over]:
    """The over-redemptions found here, by pass and period."""
    where = " WHERE reported = 0" if unreported_only else ""
    return [
        Over(p, q, u, a, f, bool(r))
        for p, q, u, a, f, r in conn.execute(
            "SELECT pass_id, period, used, allowance, found_at, reported FROM pass_overs"  # noqa: S608
            f"{where} ORDER BY pass_id, period LIMIT 10000"
        )
    ]


def mark_reported(conn: sqlite3.Connection, sent: list[Over]) -> None:
    """The cloud stored these: mark them reported (unless they grew since)."""
    conn.executemany(
        "UPDATE pass_overs SET reported = 1 WHERE pass_id = ? AND period = ? AND used = ?",
        [(o.pass_id, o.period, o.used) for o in sent],
    )
