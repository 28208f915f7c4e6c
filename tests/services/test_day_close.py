"""The daily close report against a real ledger: its figures are the ledger's (issue 22)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

from services_support import Clock

from appliance.domain.close import CloseReport, report_lines
from appliance.domain.money import Money
from appliance.ledger.receipt import ReceiptType
from appliance.services import day_close
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.ledger_files import verify_state


class Rails:
    def rail_names(self) -> list[str]:
        return ["pix"]

    def payload(self, rail: str, amount: Money, reference: str) -> str:
        return f"{rail}:{amount.decimal()}:{reference}"


def rows(box: Box, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return box.writer.run_sync(lambda conn: conn.execute(sql, args).fetchall())


async def sell(checkout: Checkout, tender: str, **lines: int) -> str:
    order = await checkout.create_order(lines=list(lines.items()))
    await checkout.choose_tender(order.id, tender)
    await checkout.confirm(order.id)
    return order.id


def evidence(box: Box, clock: Clock, order_id: str, state: str) -> None:
    """Record bank evidence for a sale as `stallbox reconcile` does: a signed evidence line."""

    def tx(conn: sqlite3.Connection) -> None:
        seq, total = conn.execute(
            "SELECT o.receipt_seq, r.total FROM orders o JOIN receipts r ON r.seq = o.receipt_seq"
            " WHERE o.id = ?", (order_id,),
        ).fetchone()  # fmt: skip
        bank = state == "bank"
        box.append(
            conn, kind=ReceiptType.EVIDENCE, at=clock(), total=total if bank else 0,
            items={"state": state, "source": "sha256:00", "credit": "c1" if bank else ""},
            ref=f"{state[0]}{seq}", order_id=order_id,
        )  # fmt: skip

    box.writer.run_sync(tx)


def ledger_figures(box: Box, after: int, upto: int) -> dict[str, tuple[int, int]]:
    """Per tender and kind, (count, sum) straight from receipts and orders' own seq columns."""
    out: dict[str, tuple[int, int]] = {}
    for column, kind in (("receipt_seq", "sale"), ("void_seq", "void")):
        for tender, count, total in rows(
            box,
            f"SELECT o.tender, count(*), sum(r.total) FROM orders o JOIN receipts r"
            f" ON r.seq = o.{column} WHERE r.seq > ? AND r.seq <= ? GROUP BY o.tender",
            after, upto,
        ):  # fmt: skip
            out[f"{tender}/{kind}"] = (count, total)
    return out


def test_close_report_figures_equal_the_ledgers(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock, payments=Rails())

    async def day() -> tuple[CloseReport, CloseReport, list[str]]:
        cash = [await sell(checkout, "cash", pastel=1) for _ in range(3)]  # 3 x 9.50
        pix = [await sell(checkout, "pix", coffee=n) for n in (1, 2, 3, 4)]  # 6, 12, 18, 24
        await checkout.void(cash[0])
        await checkout.void(pix[3])
        evidence(box, clock, pix[0], "bank")
        evidence(box, clock, pix[1], "unmatched")
        before = await day_close.preview(box, clock())
        return before, await day_close.close_day(box, clock()), pix

    before, report, _ = asyncio.run(day())
    close_items = json.loads(
        rows(box, "SELECT items FROM receipts WHERE seq = ?", report.seq)[0][0]
    )
    # the signed close and the report agree, and both are the ledger's sums
    assert report.closed and report.line is not None and report.seq == close_items["to_seq"] + 1
    signed = {
        k: close_items[k] for k in ("from_seq", "to_seq", "sales", "gross", "voids", "voided")
    }
    shown = {k: getattr(report, k) for k in signed}
    assert shown == signed
    ledger = ledger_figures(box, report.from_seq - 1, report.to_seq)
    assert ledger == {"cash/sale": (3, 2850), "pix/sale": (4, 6000), "cash/void": (1, 950),
                      "pix/void": (1, 2400)}  # fmt: skip
    by_tender = {t.tender: t for t in report.tenders}
    for tender in ("cash", "pix"):
        t = by_tender[tender]
        assert (t.sales, t.gross) == ledger[f"{tender}/sale"]
        assert (t.voids, t.voided) == ledger[f"{tender}/void"]
        assert t.net == t.gross - t.voided
    assert report.cash_expected == 2850 - 950 == by_tender["cash"].net
    assert report.net == report.gross - report.voided == 8850 - 3350
    states = {e.state: (e.count, e.amount) for e in by_tender["pix"].evidence}
    assert states == {"bank": (1, 600), "unmatched": (1, 1200), "unverified": (1, 1800)}
    assert by_tender["cash"].evidence == ()
    # the preview before closing showed the same figures; the chain still verifies
    assert (before.closed, before.seq) == (False, None)
    assert (before.gross, before.voided, before.tenders) == (
        report.gross,
        report.voided,
        report.tenders,
    )
    assert report.seq is not None and verify_state(box.state_dir).count == report.seq + 1
    text = "\n".join(report_lines(report))
    assert "cash expected in the drawer: 19.00" in text and "bank: 1 = 6.00" in text


def test_the_next_period_starts_empty_and_closes_again(box: Box, clock: Clock) -> None:
    checkout = Checkout(box, clock=clock)

    async def two_days() -> tuple[CloseReport, CloseReport, CloseReport]:
        await sell(checkout, "cash", pastel=2)
        first = await day_close.close_day(box, clock())
        empty = await day_close.preview(box, clock())
        await sell(checkout, "cash", coffee=1)
        return first, empty, await day_close.close_day(box, clock())

    first, empty, second = asyncio.run(two_days())
    assert first.seq is not None
    assert (first.sales, first.gross, first.cash_expected) == (1, 1900, 1900)
    assert (empty.sales, empty.gross, empty.from_seq) == (0, 0, first.seq + 1)
    assert (second.from_seq, second.sales, second.cash_expected) == (first.seq + 1, 1, 600)
