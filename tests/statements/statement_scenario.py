"""One evening at a night market, as the fixtures in fixtures/ tell it in every format.

Sales S14-S22 (order numbers, Crockford references from appliance.payments.reference):
S14 00E4 18.50  paid with its reference (EPC RF reference / Pix txid in the text)
S15 00F2  7.00  paid, reference in the free text (in camt, inside a batched entry)
S16 00GZ 12.00  paid, reference in a structured field (camt Strd/CdtrRefInf, OFX REFNUM, ...)
S17 00HX  4.50  paid, but the payer's bank dropped every reference (NOTPROVIDED): scored
S18 00JV  9.00  one 9.00 credit with no reference for two 9.00 sales: a tie, ambiguous
S19 00KS  9.00
S20 00MQ 25.00  never paid (a fake payment screen); a 2.50 credit names it: wrong amount
S21 00NN  6.00  paid in camt.054 only (booked with a time of day): scored
S22 00PK  3.00  paid in camt.054, then the credit is reversed: unmatched
plus a 30.00 credit (rent) that pays nothing the stall sold.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from appliance.domain.money import Money
from appliance.domain.reconcile import Outcome, Sale
from appliance.payments.ids import rf_reference
from appliance.payments.reference import order_reference

FIXTURES = Path(__file__).parent / "fixtures"

ORDERS = {  # order number: (amount in minor units, minute past 18:00 UTC on 2026-11-20)
    14: (1850, 2),
    15: (700, 10),
    16: (1200, 15),
    17: (450, 20),
    18: (900, 30),
    19: (900, 40),
    20: (2500, 60),
    21: (600, 28),
    22: (300, 38),
}


def sales(currency: str) -> list[Sale]:
    """The evening's sales, in `currency`."""
    out = []
    for number, (minor, minute) in ORDERS.items():
        ref = order_reference(number)
        at = datetime(2026, 11, 20, 18 + minute // 60, minute % 60, tzinfo=UTC)
        rail = "sepa" if currency == "EUR" else "pix"
        out.append(Sale(f"S{number}", (ref, rf_reference(ref)), rail, Money(minor, currency), at))
    return out


def summary(outcome: Outcome) -> dict[str, object]:
    """What a person would check: who paid what, and how."""
    return {
        "matched": {m.sale.id: str(m.how) for m in outcome.matched},
        "unmatched_sales": [s.id for s in outcome.unmatched_sales],
        "ambiguous": [[s.id for s in a.sales] for a in outcome.ambiguous],
        "unmatched_credits": sorted(c.amount.decimal() for c in outcome.unmatched_credits),
        "wrong_amount": [(c.amount.decimal(), s.id) for c, s in outcome.wrong_amount],
        "reversed": [(r.amount.decimal(), c is not None) for r, c in outcome.reversed],
    }


MATCHED = {"S14": "reference", "S15": "reference", "S16": "reference", "S17": "scored"}
EVENING: dict[str, object] = {  # what every format's fixture reconciles to
    "matched": MATCHED,
    "unmatched_sales": ["S20", "S21", "S22"],
    "ambiguous": [["S18", "S19"]],
    "unmatched_credits": ["2.50", "30.00"],
    "wrong_amount": [("2.50", "S20")],
    "reversed": [],
}
