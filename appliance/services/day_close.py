"""The daily close as a use case: sign the close receipt and build its report in one transaction.

`Checkout.close_day` signs the close; here the same transaction also reads the period it closed,
so the report a vendor sees is of exactly the receipts the close signed (no sale can slip in
between). `preview` builds the report of the open period without signing anything. The CLI
(`stallbox close`), the operator API (`/api/close`) and the console all come through here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from appliance.domain.close import CloseReport, build_report
from appliance.ledger.receipt import ReceiptType
from appliance.services.box import Box
from appliance.store import close as close_sql
from appliance.store import evidence as evidence_sql
from appliance.store.ledger import chain_head, since_last_close


def _report(
    conn: sqlite3.Connection, box: Box, after: int, upto: int, at: str, **signed: Any
) -> CloseReport:
    rows = close_sql.period_rows(conn, after, upto)
    return build_report(
        rows, evidence_sql.recorded(conn), currency=box.currency,
        from_seq=after + 1, to_seq=upto, at=at, **signed,
    )  # fmt: skip


def close_tx(box: Box, now: datetime) -> Callable[[sqlite3.Connection], CloseReport]:
    """The close's transaction: sign the close receipt, then report the period it covers."""

    def tx(conn: sqlite3.Connection) -> CloseReport:
        summary = since_last_close(conn)
        receipt = box.append(
            conn, kind=ReceiptType.CLOSE, at=now, total=summary["gross"], items=summary
        )
        after, upto = summary["from_seq"] - 1, summary["to_seq"]
        at = receipt.time.isoformat()
        return _report(conn, box, after, upto, at, seq=receipt.seq, line=receipt.line)

    return tx


def preview_tx(box: Box, now: datetime) -> Callable[[sqlite3.Connection], CloseReport]:
    """A read: the report of the period since the last close, nothing signed."""

    def tx(conn: sqlite3.Connection) -> CloseReport:
        after, upto = close_sql.last_close_seq(conn), chain_head(conn).next_seq - 1
        return _report(conn, box, after, upto, now.isoformat())

    return tx


async def close_day(box: Box, now: datetime) -> CloseReport:
    """Sign the daily close and report it."""
    return await box.writer.run(close_tx(box, now))


async def preview(box: Box, now: datetime) -> CloseReport:
    """Report the open period without closing it."""
    return await box.writer.read(preview_tx(box, now))
