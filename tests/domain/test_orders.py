"""The order state machine: only the listed transitions happen; every other one is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from appliance.domain.catalog import Item, return_stock, take_stock
from appliance.domain.errors import (
    CatalogError,
    DomainError,
    MoneyError,
    OrderError,
    OutOfStock,
    TransitionRefused,
)
from appliance.domain.money import Money
from appliance.domain.orders import (
    TRANSITIONS,
    Order,
    OrderState,
    check_transition,
    items_for_receipt,
)

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
HOLD = timedelta(minutes=15)
ITEMS = [
    Item("pastel", "Pastel", Money(950, "BRL"), 5),
    Item("coffee", "Coffee", Money(600, "BRL")),
    Item("cane", "Caldo de cana", Money(1800, "BRL"), 0),
]
ALLOWED = {
    ("open", "awaiting_payment"), ("open", "cancelled"),
    ("awaiting_payment", "paid"), ("awaiting_payment", "cancelled"),
    ("awaiting_payment", "expired"), ("paid", "voided"),
}  # fmt: skip


def new_order() -> Order:
    return Order("o1", 1, "BRL", OrderState.OPEN, (), T0)


@pytest.mark.parametrize("current", list(OrderState))
@pytest.mark.parametrize("target", list(OrderState))
def test_the_transition_table_is_exactly_the_documented_one(
    current: OrderState, target: OrderState
) -> None:
    if (current.value, target.value) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(TransitionRefused, match=f"order is {current}, cannot become {target}"):
            check_transition(current, target)
    assert {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


class OrderMachine(RuleBasedStateMachine):
    """Random operations on one order; refused ones must raise and change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.now = T0
        self.since = T0

    def attempt(self, operation: str, *args: object) -> None:
        before = self.order
        try:
            after = getattr(before, operation)(*args)
        except DomainError:
            assert self.order == before
            return
        if after.state is not before.state:
            assert (before.state.value, after.state.value) in ALLOWED
        if operation == "choose_tender" and before.state is OrderState.OPEN:
            self.since = self.now
        self.order = after

    @rule(item=st.sampled_from(ITEMS), qty=st.integers(-2, 1000))
    def add(self, item: Item, qty: int) -> None:
        self.attempt("add_line", item, qty)

    @rule(sku=st.sampled_from(["pastel", "coffee", "tea"]), qty=st.none() | st.integers(-1, 5))
    def remove(self, sku: str, qty: int | None) -> None:
        self.attempt("remove_line", sku, qty)

    @rule(tender=st.sampled_from(["cash", "pix", ""]))
    def tender(self, tender: str) -> None:
        self.attempt("choose_tender", tender, "001Y")

    @rule()
    def pay(self) -> None:
        self.attempt("pay")

    @rule()
    def cancel(self) -> None:
        self.attempt("cancel")

    @rule()
    def void(self) -> None:
        self.attempt("void")

    @rule(minutes=st.integers(0, 30))
    def wait_and_expire(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self.attempt("expire", self.now, HOLD, self.since)

    @invariant()
    def lines_only_change_while_open(self) -> None:
        if self.order.state is not OrderState.OPEN:
            assert self.order.lines or self.order.state is OrderState.CANCELLED

    @invariant()
    def total_is_the_sum_of_lines(self) -> None:
        assert self.order.total.minor == sum(
            ln.unit_price.minor * ln.qty for ln in self.order.lines
        )
        assert all(1 <= ln.qty <= 999 for ln in self.order.lines)

    @precondition(lambda self: self.order.state in (OrderState.PAID, OrderState.VOIDED))
    @invariant()
    def paid_orders_have_a_tender(self) -> None:
        assert self.order.tender


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


def test_lines_merge_and_stay_in_sku_order() -> None:
    order = new_order().add_line(ITEMS[0], 1).add_line(ITEMS[1], 2).add_line(ITEMS[0], 2)
    assert [(ln.sku, ln.qty) for ln in order.lines] == [("coffee", 2), ("pastel", 3)]
    assert order.total == Money(2 * 600 + 3 * 950, "BRL")
    assert items_for_receipt(order) == [
        {"sku": "coffee", "name": "Coffee", "qty": 2, "unit": 600},
        {"sku": "pastel", "name": "Pastel", "qty": 3, "unit": 950},
    ]


def test_a_line_in_another_currency_is_refused() -> None:
    with pytest.raises(MoneyError):
        new_order().add_line(Item("beer", "Beer", Money(500, "EUR")), 1)


def test_expiry_needs_the_hold_to_have_passed() -> None:
    waiting = new_order().add_line(ITEMS[1], 1).choose_tender("cash", "001Y")
    with pytest.raises(OrderError, match="hold"):
        waiting.expire(T0 + timedelta(minutes=14), HOLD, T0)
    assert waiting.expire(T0 + HOLD, HOLD, T0).state is OrderState.EXPIRED


def test_naive_times_are_refused() -> None:
    with pytest.raises(DomainError, match="timezone-aware"):
        Order("o", 1, "BRL", OrderState.OPEN, (), datetime(2026, 11, 26))


def test_notes_are_bounded() -> None:
    with pytest.raises(OrderError, match="note"):
        Order("o", 1, "BRL", OrderState.OPEN, (), T0, note="x" * 201)


@given(stock=st.integers(0, 50), wanted=st.integers(1, 60))
def test_stock_never_goes_negative(stock: int, wanted: int) -> None:
    item = Item("pastel", "Pastel", Money(950, "BRL"), stock)
    if wanted > stock:
        with pytest.raises(OutOfStock):
            take_stock(item, wanted)
    else:
        taken = take_stock(item, wanted)
        assert taken.stock == stock - wanted
        assert return_stock(taken, wanted) == item


@pytest.mark.parametrize(
    ("sku", "name", "price", "stock"),
    [("Pastel", "P", 1, None), ("", "P", 1, None), ("p", "", 1, None), ("p", "x" * 61, 1, None),
     ("p", "P", -1, None), ("p", "P", 1, -1)],
)  # fmt: skip
def test_bad_items_are_refused(sku: str, name: str, price: int, stock: int | None) -> None:
    with pytest.raises(CatalogError):
        Item(sku, name, Money(price, "BRL"), stock)
