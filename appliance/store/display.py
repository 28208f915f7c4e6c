"""SQL for customer displays: a display-only token's hash and the console it follows."""

from __future__ import annotations

import sqlite3


def load_tokens(conn: sqlite3.Connection) -> dict[str, str]:
    """Every paired display: token hash -> console."""
    rows = conn.execute("SELECT token_hash, console FROM display_tokens").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def replace_token(conn: sqlite3.Connection, console: str, token_hash: str, now: str) -> None:
    """Pair a display with `console`: any display it had before stops working."""
    conn.execute("DELETE FROM display_tokens WHERE console = ?", (console,))
    conn.execute(
        "INSERT INTO display_tokens (token_hash, console, paired_at) VALUES (?, ?, ?)",
        (token_hash, console, now),
    )
