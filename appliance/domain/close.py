"""The daily close report: what the period since the last close took, per tender, from the ledger.

A close receipt signs four figures of the period (sales, gross, voids, voided); the vendor
counting the drawer and the bank app needs them split by tender, the cash the drawer should
hold, and which QR sales the bank has confirmed. This is a pure function of the period's
receipts (and the evidence recorded for its sales), so the report can never disagree with the
ledger it is read from. Modelled on the end-of-day reports of Square and Loyverse.

Extending it: a new figure per tender is a field of `TenderFigures`; a new evidence source (a
provider's API) is another state in `EVIDENCE_STATES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.domain.money import Money

CASH = "cash"
EVIDENCE_STATES = ("bank", "unmatched", "unverified")  # bank-confirmed, bank says no, not known


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """One sale or void receipt of the period, with the tender of its order."""

    seq: int
    kind: str  # "sale" or "void"
    total: int
    tender: str
    voids_seq: int | None = None  # a void: the seq of the sale it voids


@dataclass(frozen=True, slots=True)
class EvidenceFigure:
    """How many of a rail's standing sales are in one evidence state, and their sum."""

    state: str
    count: int
    amount: int


@dataclass(frozen=True, slots=True)
class TenderFigures:
    """One tender's part of the period: sales, voids, net, and (rails) the bank's evidence."""

    tender: str
    sales: int
    gross: int
    voids: int
    voided: int
    net: int
    evidence: tuple[EvidenceFigure, ...]  # empty for cash: no bank stands behind it


@dataclass(frozen=True, slots=True)
class CloseReport:
    """The report of one close (or of the open period, when `closed` is False)."""

    currency: str
    closed: bool
    seq: int | None  # the close receipt's seq; None for a preview
    line: str | None  # the signed close line; None for a preview
    at: str  # when: the close receipt's time, or the preview's
    from_seq: int
    to_seq: int
    sales: int
    gross: int
    voids: int
    voided: int
    net: int
    cash_expected: int  # cash taken in the period minus cash given back for voids
    tenders: tuple[TenderFigures, ...]


def evidence_state(letters: Iterable[str]) -> str:
    """A sale's evidence state from the letters recorded for it: bank wins, then unmatched."""
    found = set(letters)
    return "bank" if "b" in found else "unmatched" if "u" in found else "unverified"


def build_report(
    rows: Iterable[PeriodRow],
    evidence: Mapping[int, Iterable[str]],
    *,
    currency: str,
    from_seq: int,
    to_seq: int,
    at: str,
    seq: int | None = None,
    line: str | None = None,
) -> CloseReport:
    """The report of the period's rows; tenders in order of first appearance, cash first."""
    period = list(rows)
    voided_sales = {r.voids_seq for r in period if r.kind == "void"}
    tenders: dict[str, list[PeriodRow]] = {CASH: []}
    for row in period:
        tenders.setdefault(row.tender, []).append(row)
    figures = [_tender(name, got, voided_sales, evidence) for name, got in tenders.items()]
    cash = figures[0]
    return CloseReport(
        currency=currency, closed=seq is not None, seq=seq, line=line, at=at,
        from_seq=from_seq, to_seq=to_seq,
        sales=sum(f.sales for f in figures), gross=sum(f.gross for f in figures),
        voids=sum(f.voids for f in figures), voided=sum(f.voided for f in figures),
        net=sum(f.net for f in figures), cash_expected=cash.net, tenders=tuple(figures),
    )  # fmt: skip


def _tender(
    name: str,
    rows: list[PeriodRow],
    voided_sales: set[int | None],
    evidence: Mapping[int, Iterable[str]],
) -> TenderFigures:
    sales = [r for r in rows if r.kind == "sale"]
    voids = [r for r in rows if r.kind == "void"]
    gross, voided = sum(r.total for r in sales), sum(r.total for r in voids)
    states: tuple[EvidenceFigure, ...] = ()
    if name != CASH:
        standing = [r for r in sales if r.seq not in voided_sales]
        by_state = {state: [0, 0] for state in EVIDENCE_STATES}
        for sale in standing:
            tally = by_state[evidence_state(evidence.get(sale.seq, ()))]
            tally[0] += 1
            tally[1] += sale.total
        states = tuple(EvidenceFigure(s, c, a) for s, (c, a) in by_state.items())
    return TenderFigures(name, len(sales), gross, len(voids), voided, gross - voided, states)


def report_lines(report: CloseReport) -> list[str]:
    """The report for a person, one line each, amounts in the currency's decimals."""

    def amount(minor: int) -> str:
        return Money(minor, report.currency).decimal()

    head = f"close seq {report.seq}" if report.closed else "open period (not closed)"
    lines = [
        f"{head}: receipts {report.from_seq}..{report.to_seq} at {report.at} ({report.currency})",
        f"  sales {report.sales} = {amount(report.gross)}, voids {report.voids} = "
        f"{amount(report.voided)}, net {amount(report.net)}",
        f"  cash expected in the drawer: {amount(report.cash_expected)}",
    ]
    for t in report.tenders:
        lines.append(
            f"  {t.tender}: sales {t.sales} = {amount(t.gross)}, voids {t.voids} = "
            f"{amount(t.voided)}, net {amount(t.net)}"
        )
        for e in t.evidence:
            lines.append(f"    {e.state}: {e.count} = {amount(e.amount)}")
    return lines
