"""A pass's discounts: what appliance/passes/apply.py takes off, and how a sale's items carry it.

The items vector is docs/receipt-format.md's "Pass discounts in a sale's items"; its hash is
checked with hashlib over the text printed there (RFC 8785 canonical JSON, SHA-256 truncated to
16 bytes, as the receipt format's own vectors are).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from appliance.domain.money import Money
from appliance.domain.orders import Discount, Line, Order, OrderState, items_for_receipt
from appliance.ledger.rules import items_total
from appliance.passes.apply import discounts_for, early_minutes
from appliance.passes.model import Entitlement, Kind, Pass, Period

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipt-format.md"
PASS_ID = hashlib.sha256(b"pass 1").hexdigest()[:32]  # pass 1 of docs/passes.md's vectors
CALDO = Line("caldo", "Caldo de cana", Money(1800, "BRL"), 1)
PASTEL = Line("pastel", "Pastel de queijo", Money(950, "BRL"), 2)


def card(*grants: Entitlement) -> Pass:
    return Pass(PASS_ID, "creator:ana", "Fan 1", 0, 2**40, 0, grants, "")


def order(*lines: Line) -> Order:
    return Order("o", 1, "BRL", OrderState.OPEN, lines, datetime(2026, 11, 20, tzinfo=UTC))


def test_the_documented_items_vector() -> None:
    text = DOC.read_text()
    section = text[text.index("### Pass discounts in a sale's items") :]
    canonical = re.search(r"```\n(\[.*\])\n```", section)
    digest = re.search(r"items hash \(hex[^`]*`([0-9a-f]{32})`", section)
    assert canonical is not None and digest is not None
    grants = (
        Entitlement(Kind.PERCENT_OFF, 10, ("pastel",)),
        Entitlement(Kind.EARLY_ACCESS, 30),
        Entitlement(Kind.AMOUNT_OFF, 500, ("combo",), currency="BRL"),
        Entitlement(Kind.ALLOWANCE, 1, ("caldo",), period=Period.DAY),
    )
    made = order(CALDO, PASTEL)
    made = made.with_discounts(
        discounts_for(card(*grants), made.lines, "BRL", {3: ("2026-11-20/3", 1)})
    )
    items = items_for_receipt(made)
    assert json.loads(canonical[1]) == items
    assert hashlib.sha256(canonical[1].encode()).hexdigest()[:32] == digest[1]
    assert items_total(items) == made.total.minor == 1710


def test_allowance_first_then_percent_then_amount_and_never_below_zero() -> None:
    grants = (
        Entitlement(Kind.AMOUNT_OFF, 10_000, (), currency="BRL"),
        Entitlement(Kind.PERCENT_OFF, 50),
        Entitlement(Kind.ALLOWANCE, 5, ("pastel",), period=Period.EVENT),
    )
    found = discounts_for(card(*grants), (CALDO, PASTEL), "BRL", {2: ("fair/2", 5)})
    amounts = {d.sku.rsplit(":", 1)[1]: (d.amount.minor, d.redeemed) for d in found}
    # both pasteis free (2 units of 5 left), half the caldo off, the rest by the fixed amount
    assert amounts == {"2": (1900, 2), "1": (900, 0), "0": (900, 0)}
    assert order(CALDO, PASTEL).with_discounts(found).total.minor == 0


def test_nothing_left_of_an_allowance_takes_nothing_and_another_currency_is_ignored() -> None:
    grants = (
        Entitlement(Kind.ALLOWANCE, 1, ("caldo",), period=Period.DAY),
        Entitlement(Kind.AMOUNT_OFF, 100, (), currency="EUR"),
    )
    assert discounts_for(card(*grants), (CALDO,), "BRL", {0: ("d/0", 0)}) == ()


def test_changing_the_lines_drops_the_discounts() -> None:
    made = order(CALDO).with_discounts(
        (Discount(f"pass:{PASS_ID}:0", "Pass: 10% off", Money(180, "BRL"), PASS_ID),)
    )
    assert made.total.minor == 1620
    again = made.remove_line("caldo", 1)
    assert again.discounts == () and again.total.minor == 0


def test_early_access_names_its_drops() -> None:
    anywhere = card(Entitlement(Kind.EARLY_ACCESS, 30))
    only_7 = card(Entitlement(Kind.EARLY_ACCESS, 45, ("7",)), Entitlement(Kind.EARLY_ACCESS, 10))
    assert early_minutes(anywhere, 3) == 30
    assert (early_minutes(only_7, 7), early_minutes(only_7, 8)) == (45, 10)
    assert early_minutes(card(Entitlement(Kind.PERCENT_OFF, 5)), 1) == 0
