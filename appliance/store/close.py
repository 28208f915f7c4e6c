"""SQL for the daily close report: the period's sale and void receipts with their orders' tenders."""

from __future__ import annotations

import sqlite3

from appliance.domain.close import CASH, PeriodRow

REF_FIELD = 11  # the ref is field 12 of a receipt line (docs/receipt-format.md)


def last_close_seq(conn: sqlite3.Connection) -> int:
    """The seq of the last close receipt, -1 before the first."""
    row = conn.execute("SELECT coalesce(max(seq), -1) FROM receipts WHERE kind = 'close'")
    return int(row.fetchone()[0])


def period_rows(conn: sqlite3.Connection, after: int, upto: int) -> list[PeriodRow]:
    """Every sale and void with after < seq <= upto, with the tender of its order (cash if none)."""
    rows = conn.execute(
        "SELECT r.seq, r.kind, r.total, coalesce(o.tender, ?), r.line FROM receipts r"
        " LEFT JOIN orders o ON o.id = r.order_id"
        " WHERE r.seq > ? AND r.seq <= ? AND r.kind IN ('sale', 'void') ORDER BY r.seq",
        (CASH, after, upto),
    )
    out = []
    for seq, kind, total, tender, line in rows:
        voids = int(str(line).split(";")[REF_FIELD]) if kind == "void" else None
        out.append(PeriodRow(int(seq), str(kind), int(total), str(tender), voids))
    return out


def closes(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str]]:
    """The latest close receipts (seq, line), newest first."""
    rows = conn.execute(
        "SELECT seq, line FROM receipts WHERE kind = 'close' ORDER BY seq DESC LIMIT ?", (limit,)
    )
    return [(int(seq), str(line)) for seq, line in rows]
