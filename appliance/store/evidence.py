"""Payment evidence as the node reads it back: which QR sales the bank confirmed or did not.

Evidence lines are receipts (kind `evidence`, docs/receipt-format.md "Payment evidence") stored
with the sale's order id, so an order's state is its last evidence line's; none means unverified.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import cast

from appliance.domain.reconcile import EvidenceState

UNVERIFIED: EvidenceState = "unverified"

STATE_OF_LETTER = {"b": "bank", "u": "unmatched"}


def _letter(line: str) -> str:
    """The state letter of an evidence line: the first character of its ref (field 12)."""
    return line.split(";")[11][0]


def recorded(conn: sqlite3.Connection) -> dict[int, set[str]]:
    """Every evidence state already on the chain, by the seq of the sale it is about."""
    found: dict[int, set[str]] = {}
    for (line,) in conn.execute("SELECT line FROM receipts WHERE kind = 'evidence' ORDER BY seq"):
        ref = str(line).split(";")[11]
        found.setdefault(int(ref[1:]), set()).add(ref[0])
    return found


def sale_seqs(conn: sqlite3.Connection, order_ids: Iterable[str]) -> dict[str, int]:
    """The seq of each paid order's sale receipt, by order id."""
    out: dict[str, int] = {}
    for order_id in order_ids:
        row = conn.execute("SELECT receipt_seq FROM orders WHERE id = ?", (order_id,)).fetchone()
        if row is not None and row[0] is not None:
            out[order_id] = int(row[0])
    return out


def payment_states(conn: sqlite3.Connection, order_ids: Iterable[str]) -> dict[str, EvidenceState]:
    """The evidence state of each paid QR order: bank, unmatched or unverified; others absent.

    One pass over the evidence lines (few: at most two per QR sale) and one look-up per order.
    """
    last: dict[str, EvidenceState] = {}
    for order_id, line in conn.execute(
        "SELECT order_id, line FROM receipts WHERE kind = 'evidence' ORDER BY seq"
    ):
        last[str(order_id)] = cast(EvidenceState, STATE_OF_LETTER[_letter(str(line))])
    out: dict[str, EvidenceState] = {}
    for order_id in order_ids:
        row = conn.execute(
            "SELECT tender, receipt_seq FROM orders WHERE id = ?", (order_id,)
        ).fetchone()
        if row is not None and row[1] is not None and row[0] not in (None, "cash"):
            out[order_id] = last.get(order_id, UNVERIFIED)
    return out


def bank_credits(conn: sqlite3.Connection) -> dict[str, str]:
    """The credit key of every sale's bank evidence, by order id (a bank line is final)."""
    return {
        str(order_id): str(credit)
        for order_id, credit in conn.execute(
            "SELECT order_id, json_extract(items, '$.credit') FROM receipts"
            " WHERE kind = 'evidence' AND json_extract(items, '$.state') = 'bank'"
        )
    }


def last_close_seq(conn: sqlite3.Connection) -> int:
    """The seq of the last daily close receipt, or -1 before the first."""
    row = conn.execute("SELECT coalesce(max(seq), -1) FROM receipts WHERE kind = 'close'")
    return int(row.fetchone()[0])


def evidence_by_rail(conn: sqlite3.Connection, after_seq: int = -1) -> dict[str, dict[str, int]]:
    """Per rail, the standing QR sales after `after_seq`: bank, unverified, unmatched (count and
    minor units); for the daily close (`evidence_by_rail(conn, last_close_seq(conn))`), the
    Numbers screen and GET /api/bank. A state is the sale's evidence as of now."""
    last: dict[int, str] = {}
    for (line,) in conn.execute(
        "SELECT line FROM receipts WHERE kind = 'evidence' AND seq > ? ORDER BY seq", (after_seq,)
    ):
        ref = str(line).split(";")[11]
        last[int(ref[1:])] = STATE_OF_LETTER[ref[0]]
    out: dict[str, dict[str, int]] = {}
    for rail, seq, total in conn.execute(
        "SELECT o.tender, o.receipt_seq, r.total FROM orders o JOIN receipts r"
        " ON r.seq = o.receipt_seq WHERE o.state IN ('paid') AND o.tender IS NOT NULL"
        " AND o.tender != 'cash' AND o.receipt_seq > ? ORDER BY o.receipt_seq",
        (after_seq,),
    ):
        state = last.get(int(seq), UNVERIFIED)
        sums = out.setdefault(str(rail), dict.fromkeys(SUMMARY_KEYS, 0))
        sums["sales"] += 1
        sums[state] += 1
        sums[f"{state}_minor"] += int(total)
    return out


def evidence_since_close(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """The daily close's per-rail evidence summary: `evidence_by_rail` after the last close."""
    return evidence_by_rail(conn, last_close_seq(conn))


SUMMARY_KEYS = ("sales", "bank", "unverified", "unmatched",
                "bank_minor", "unverified_minor", "unmatched_minor")  # fmt: skip
