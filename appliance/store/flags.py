"""SQL for the canary judge's decisions: which flag arm this box switched off or passed, and why."""

from __future__ import annotations

import sqlite3

from appliance.flags.canary import FlagDecision


def insert_decision(conn: sqlite3.Connection, decision: FlagDecision) -> None:
    """Record a decision (inside the caller's write transaction)."""
    conn.execute(
        "INSERT INTO flag_decisions (at, bundle, flag, variant, verdict, reason, figures)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            decision.at, decision.bundle, decision.flag, decision.variant, decision.verdict,
            decision.reason, decision.figures,
        ),
    )  # fmt: skip


def decisions_for(conn: sqlite3.Connection, bundle: str) -> list[FlagDecision]:
    """The decisions taken on one bundle's flags, oldest first."""
    rows = conn.execute(
        "SELECT at, bundle, flag, variant, verdict, reason, figures FROM flag_decisions"
        " WHERE bundle = ? ORDER BY id",
        (bundle,),
    ).fetchall()
    return [FlagDecision(*row) for row in rows]


def recent_decisions(conn: sqlite3.Connection, limit: int = 50) -> list[FlagDecision]:
    """The latest decisions on any bundle, newest first."""
    rows = conn.execute(
        "SELECT at, bundle, flag, variant, verdict, reason, figures FROM flag_decisions"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [FlagDecision(*row) for row in rows]


def count_decisions(conn: sqlite3.Connection) -> int:
    """How many canary decisions this box took (each an edge decision)."""
    return int(conn.execute("SELECT count(*) FROM flag_decisions").fetchone()[0])


def decisions_after(
    conn: sqlite3.Connection, after_id: int, limit: int
) -> list[tuple[int, FlagDecision]]:
    """Decisions past row `after_id` with their row ids, oldest first (what sync ships)."""
    rows = conn.execute(
        "SELECT id, at, bundle, flag, variant, verdict, reason, figures FROM flag_decisions"
        " WHERE id > ? ORDER BY id LIMIT ?",
        (after_id, limit),
    ).fetchall()
    return [(int(row[0]), FlagDecision(*row[1:])) for row in rows]
