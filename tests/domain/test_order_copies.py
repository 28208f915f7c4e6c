"""A sale's Order shortcuts: pay without dataclasses.replace, the total in minor units.

Both sit on every confirm's path (docs/performance/2026-12-05-sale-python.md); these tests hold them
to what they replaced: replace(order, state=...) and the sum of the lines' and discounts' Money.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.domain.errors import MoneyError, TransitionRefused
from appliance.domain.money import Money
from appliance.domain.orders import Discount, Line, Order, OrderState, items_for_receipt
from appliance.ledger.receipt import canonical_items, canonical_sale_lines

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
lines = st.lists(
    st.builds(Line, st.text(min_size=1, max_size=8), st.text(max_size=12),
              st.builds(Money, st.integers(0, 10**6), st.just("BRL")), st.integers(1, 999)),
    min_size=1, max_size=5, unique_by=lambda line: line.sku,
)  # fmt: skip


def order(lines: tuple[Line, ...], discounts: tuple[Discount, ...] = ()) -> Order:
    return Order("o-1", 7, "BRL", OrderState.AWAITING_PAYMENT, lines, T0, "cash", "A7", "hi",
                 None, discounts)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(lines, st.integers(0, 3))
def test_pay_and_total_are_what_replace_and_money_gave(got: list[Line], off: int) -> None:
    summed = sum((line.unit_price * line.qty for line in got), Money.zero("BRL"))
    discounts = tuple(
        Discount(f"pass:p:{i}", "Pass", Money(1, "BRL"), "p") for i in range(min(off, summed.minor))
    )
    waiting = order(tuple(got), discounts)
    paid = waiting.pay()
    assert paid == replace(waiting, state=OrderState.PAID)
    assert paid.total == waiting.total == summed - Money(len(discounts), "BRL")
    with pytest.raises(TransitionRefused):
        paid.pay()  # paid → paid is still refused


@settings(max_examples=200, deadline=None)
@given(lines)
def test_a_sales_canonical_lines_are_its_items_canonical_json(got: list[Line]) -> None:
    waiting = order(tuple(reversed(got)))
    ordered = sorted(waiting.lines, key=lambda line: line.sku)
    direct = canonical_sale_lines(
        [(ln.sku, ln.name, ln.qty, ln.unit_price.minor) for ln in ordered]
    )
    assert direct == canonical_items(items_for_receipt(waiting))


def test_a_discount_in_another_currency_is_refused_as_before() -> None:
    with pytest.raises(MoneyError, match="cannot mix BRL and USD"):
        order((Line("tea", "Tea", Money(500, "BRL"), 1),),
              (Discount("pass:p:0", "Pass", Money(1, "USD"), "p"),))  # fmt: skip
