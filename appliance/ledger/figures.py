"""The stall's figures as pure functions of its receipt lines and funnel minutes.

One definition of each figure wherever it is shown: the box's console Numbers (through
/api/stats, appliance/store/stats.py) and the creator's dashboard at the cloud
(sync/cloud/dashboard.py), which has only what sync carried — the signed receipt lines with
their items, and the funnel minutes. A sale is a `sale` line not voided: sales = sale lines -
void lines, revenue = their totals - the voids' totals. A sale is bank-confirmed when an
`evidence` line with a `b` ref names it (docs/receipt-format.md "Payment evidence").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from appliance.ledger.receipt import ReceiptType, parse_receipt


@dataclass(frozen=True, slots=True)
class SalesFigures:
    """What a box's receipts say: sales, revenue, voids, bank evidence, revenue by minute."""

    sales: int = 0
    revenue: int = 0  # minor units of `currency`
    voided: int = 0
    voided_revenue: int = 0
    bank_confirmed: int = 0  # standing sales with a bank (b) evidence line
    currency: str = ""
    by_minute: dict[str, int] = field(default_factory=dict)  # "YYYY-MM-DDTHH:MM" -> revenue


def sales_figures(lines: Iterable[str]) -> SalesFigures:
    """Count sales, revenue, voids and bank-confirmed sales from receipt lines (any order)."""
    sale_total: dict[int, int] = {}
    sale_minute: dict[int, str] = {}
    voided: dict[int, int] = {}
    banked: set[int] = set()
    currency = ""
    for line in lines:
        receipt = parse_receipt(line)
        if receipt.kind is ReceiptType.SALE:
            sale_total[receipt.seq] = receipt.total
            sale_minute[receipt.seq] = receipt.time.strftime("%Y-%m-%dT%H:%M")
            currency = receipt.currency
        elif receipt.kind is ReceiptType.VOID and receipt.ref.isdigit():
            voided[int(receipt.ref)] = receipt.total
        elif receipt.kind is ReceiptType.EVIDENCE and receipt.ref.startswith("b"):
            banked.add(int(receipt.ref[1:]))
    by_minute: dict[str, int] = defaultdict(int)
    for seq, total in sale_total.items():
        if seq not in voided:
            by_minute[sale_minute[seq]] += total
    standing = set(sale_total) - set(voided)
    return SalesFigures(
        sales=len(sale_total) - len(voided),
        revenue=sum(sale_total.values()) - sum(voided.values()),
        voided=len(voided),
        voided_revenue=sum(voided.values()),
        bank_confirmed=len(standing & banked),
        currency=currency,
        by_minute=dict(sorted(by_minute.items())),
    )


def per_live_minute(revenue: int, minutes: float) -> float | None:
    """Revenue per live minute, to the cent of a minor unit; None before a whole minute."""
    return round(revenue / minutes, 2) if minutes >= 1 else None


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is no whole."""
    return part / whole if whole else None
