"""The order state machine: only the listed transitions happen; every other one is refused.

The stateful test keeps its own model of the order (state, lines, tender) and predicts, before
each operation, whether it must succeed or which error it must raise. A refused operation must
raise exactly that error and leave the order equal to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from appliance.domain.catalog import Item
from appliance.domain.errors import (
    DomainError,
    MoneyError,
    OrderError,
    TimeZoneError,
    TransitionRefused,
)
from appliance.domain.money import Money
from appliance.domain.orders import (
    TOTAL_MAX,
    TRANSITIONS,
    Line,
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
FOREIGN = Item("beer", "Beer", Money(500, "EUR"))
ALLOWED = {
    ("open", "awaiting_payment"), ("open", "cancelled"),
    ("awaiting_payment", "paid"), ("awaiting_payment", "cancelled"),
    ("awaiting_payment", "expired"), ("paid", "voided"),
}  # fmt: skip
S = OrderState


def new_order() -> Order:
    return Order("o1", 1, "BRL", S.OPEN, (), T0)


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


def test_the_transition_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[S.PAID] = frozenset({S.CANCELLED})  # type: ignore[index]


class OrderMachine(RuleBasedStateMachine):
    """Random operations on one order, checked against a model of what each must do."""

    def __init__(self) -> None:
        super().__init__()
        self.order = new_order()
        self.state = S.OPEN
        self.lines: dict[str, int] = {}
        self.tender: str | None = None
        self.reference = ""
        self.now = T0
        self.since = T0
        self.seen: set[tuple[str, str]] = set()

    def attempt(self, refused: type[DomainError] | None, call: Callable[[], Order]) -> bool:
        """Run `call`; if `refused`, it must raise exactly that and change nothing."""
        before = self.order
        if refused is not None:
            with pytest.raises(DomainError) as info:
                call()
            assert type(info.value) is refused, f"expected {refused.__name__}: {info.value}"
            assert str(info.value)
            assert self.order == before
            return False
        after = call()
        if after.state is not before.state:
            assert (before.state.value, after.state.value) in ALLOWED
            self.seen.add((before.state.value, after.state.value))
        self.order = after
        return True

    def move(
        self, target: OrderState, extra: type[DomainError] | None = None
    ) -> type[DomainError] | None:
        """The error a move to `target` must raise: refused transitions first, then `extra`."""
        if (self.state.value, target.value) not in ALLOWED:
            return TransitionRefused
        return extra

    @rule(item=st.sampled_from(ITEMS), qty=st.integers(-2, 1000))
    def add(self, item: Item, qty: int) -> None:
        new_qty = self.lines.get(item.sku, 0) + qty
        refused = (
            TransitionRefused
            if self.state is not S.OPEN
            else OrderError
            if qty <= 0 or new_qty > 999
            else None
        )
        if self.attempt(refused, lambda: self.order.add_line(item, qty)):
            self.lines[item.sku] = new_qty

    @rule(qty=st.integers(1, 3))
    def add_in_another_currency(self, qty: int) -> None:
        refused = TransitionRefused if self.state is not S.OPEN else MoneyError
        self.attempt(refused, lambda: self.order.add_line(FOREIGN, qty))

    @rule(sku=st.sampled_from(["pastel", "coffee", "tea"]), qty=st.none() | st.integers(-1, 6))
    def remove(self, sku: str, qty: int | None) -> None:
        held = self.lines.get(sku, 0)
        bad = sku not in self.lines or (qty is not None and not 1 <= qty <= held)
        refused = TransitionRefused if self.state is not S.OPEN else OrderError if bad else None
        if self.attempt(refused, lambda: self.order.remove_line(sku, qty)):
            left = 0 if qty is None else held - qty
            if left:
                self.lines[sku] = left
            else:
                del self.lines[sku]

    @rule(tender=st.sampled_from(["cash", "pix", ""]), reference=st.sampled_from(["001Y", "0020"]))
    def choose_tender(self, tender: str, reference: str) -> None:
        # choosing again while awaiting payment switches the tender
        again = self.state is S.AWAITING_PAYMENT
        refused = None if again else self.move(S.AWAITING_PAYMENT)
        if refused is None and (not self.lines or not tender):
            refused = OrderError
        if self.attempt(refused, lambda: self.order.choose_tender(tender, reference)):
            if self.state is S.OPEN:
                self.since = self.now
            self.state, self.tender, self.reference = S.AWAITING_PAYMENT, tender, reference

    @rule()
    def pay(self) -> None:
        if self.attempt(self.move(S.PAID), self.order.pay):
            self.state = S.PAID

    @rule()
    def cancel(self) -> None:
        if self.attempt(self.move(S.CANCELLED), self.order.cancel):
            self.state = S.CANCELLED

    @rule()
    def void(self) -> None:
        if self.attempt(self.move(S.VOIDED), self.order.void):
            self.state = S.VOIDED

    @rule(minutes=st.integers(0, 30))
    def wait_and_expire(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        early = OrderError if self.now - self.since < HOLD else None
        if self.attempt(
            self.move(S.EXPIRED, early), lambda: self.order.expire(self.now, HOLD, self.since)
        ):
            self.state = S.EXPIRED

    @invariant()
    def order_matches_the_model(self) -> None:
        order = self.order
        assert order.state is self.state
        assert [(ln.sku, ln.qty) for ln in order.lines] == sorted(self.lines.items())
        assert (order.tender, order.reference) == (self.tender, self.reference)
        assert (order.id, order.number, order.created_at) == ("o1", 1, T0)
        prices = {item.sku: item.price.minor for item in ITEMS}
        assert order.total == Money(sum(prices[s] * q for s, q in self.lines.items()), "BRL")

    @invariant()
    def nothing_but_the_listed_transitions_was_seen(self) -> None:
        assert self.seen <= ALLOWED


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


def in_state(state: OrderState) -> Order:
    """An order with one line, put straight into `state` (as the store would load it)."""
    line = Line("coffee", "Coffee", Money(600, "BRL"), 1)
    tender = None if state is S.OPEN else "pix"
    return Order("o1", 1, "BRL", state, (line,), T0, tender=tender)


OPERATIONS: dict[str, tuple[OrderState, Callable[[Order], Order]]] = {
    "choose_tender": (S.AWAITING_PAYMENT, lambda o: o.choose_tender("cash", "001Y")),
    "pay": (S.PAID, Order.pay),
    "cancel": (S.CANCELLED, Order.cancel),
    "expire": (S.EXPIRED, lambda o: o.expire(T0 + HOLD, HOLD, T0)),
    "void": (S.VOIDED, Order.void),
}


@pytest.mark.parametrize("state", list(OrderState))
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_operation_from_every_state(state: OrderState, operation: str) -> None:
    target, call = OPERATIONS[operation]
    order = in_state(state)
    rechoose = operation == "choose_tender" and state is S.AWAITING_PAYMENT
    if (state.value, target.value) in ALLOWED or rechoose:
        assert call(order).state is target
    else:
        with pytest.raises(TransitionRefused, match=f"order is {state}"):
            call(order)
    assert order == in_state(state)


@pytest.mark.parametrize("state", list(OrderState))
def test_only_a_paid_order_can_be_ready_and_it_stays_paid(state: OrderState) -> None:
    order = in_state(state)
    if state is S.PAID:
        ready = order.mark_ready(T0 + HOLD)
        assert ready.state is S.PAID and ready.ready_at == T0 + HOLD
        assert ready.void().state is S.VOIDED  # ready does not stop a void
    else:
        with pytest.raises(TransitionRefused, match="only a paid order can be ready"):
            order.mark_ready(T0)
    with pytest.raises(DomainError):
        order.mark_ready(datetime(2026, 11, 26, 18, 0))  # naive: refused like every other time


@pytest.mark.parametrize("state", [s for s in OrderState if s is not S.OPEN])
def test_lines_change_only_while_open(state: OrderState) -> None:
    order = in_state(state)
    with pytest.raises(TransitionRefused, match="only while open"):
        order.add_line(ITEMS[1], 1)
    with pytest.raises(TransitionRefused, match="only while open"):
        order.remove_line("coffee")


def test_lines_merge_and_stay_in_sku_order() -> None:
    order = new_order().add_line(ITEMS[0], 1).add_line(ITEMS[1], 2).add_line(ITEMS[0], 2)
    assert [(ln.sku, ln.qty) for ln in order.lines] == [("coffee", 2), ("pastel", 3)]
    assert order.total == Money(2 * 600 + 3 * 950, "BRL")
    assert order.lines[1].total == Money(2850, "BRL")
    assert items_for_receipt(order) == [
        {"sku": "coffee", "name": "Coffee", "qty": 2, "unit": 600},
        {"sku": "pastel", "name": "Pastel", "qty": 3, "unit": 950},
    ]


def test_an_order_total_past_what_a_receipt_can_carry_is_refused() -> None:
    dear = Item("gold", "Gold bar", Money(TOTAL_MAX // 10 + 1, "BRL"))
    order = new_order().add_line(dear, 9)
    with pytest.raises(OrderError, match=f"total: .* at most {TOTAL_MAX}"):
        order.add_line(dear, 1)
    with pytest.raises(OrderError, match="total"):
        new_order().add_line(ITEMS[0], 1).add_line(dear, 10)


def test_removing_lines() -> None:
    order = new_order().add_line(ITEMS[0], 3).add_line(ITEMS[1], 1)
    assert order.remove_line("pastel", 2).lines[1].qty == 1
    assert [ln.sku for ln in order.remove_line("pastel").lines] == ["coffee"]
    assert order.remove_line("coffee", 1).remove_line("pastel").lines == ()
    for sku, qty in (("tea", None), ("pastel", 4), ("pastel", 0), ("pastel", True)):
        with pytest.raises(OrderError):
            order.remove_line(sku, qty)


def test_an_empty_order_has_a_zero_total_and_no_tender() -> None:
    assert new_order().total == Money(0, "BRL")
    with pytest.raises(OrderError, match="order has no lines"):
        new_order().choose_tender("cash", "001Y")


@pytest.mark.parametrize("qty", [0, -1, 1000, True, 1.5])
def test_line_quantities_are_1_to_999(qty: object) -> None:
    with pytest.raises(OrderError, match="quantity"):
        Line("coffee", "Coffee", Money(600, "BRL"), qty)  # type: ignore[arg-type]
    with pytest.raises(OrderError, match="quantity"):
        new_order().add_line(ITEMS[1], qty)  # type: ignore[arg-type]


def test_a_line_in_another_currency_is_refused() -> None:
    with pytest.raises(MoneyError, match="priced in EUR, order in BRL"):
        new_order().add_line(FOREIGN, 1)
    with pytest.raises(MoneyError):
        Order("o", 1, "BRL", S.OPEN, (Line("beer", "Beer", Money(500, "EUR"), 1),), T0)
    with pytest.raises(MoneyError, match="unknown currency"):
        Order("o", 1, "XYZ", S.OPEN, (), T0)


@given(waited=st.integers(0, 3600))
def test_expiry_needs_the_hold_to_have_passed(waited: int) -> None:
    waiting = new_order().add_line(ITEMS[1], 1).choose_tender("cash", "001Y")
    now = T0 + timedelta(seconds=waited)
    if timedelta(seconds=waited) >= HOLD:
        assert waiting.expire(now, HOLD, T0).state is S.EXPIRED
    else:
        with pytest.raises(OrderError, match="hold"):
            waiting.expire(now, HOLD, T0)


@pytest.mark.parametrize(
    "when", [datetime(2026, 11, 26, 18), datetime(2026, 11, 26, 18, tzinfo=timezone(HOLD))]
)
def test_times_must_be_aware_utc(when: datetime) -> None:
    with pytest.raises(TimeZoneError, match="created_at"):
        Order("o", 1, "BRL", S.OPEN, (), when)
    waiting = new_order().add_line(ITEMS[1], 1).choose_tender("cash", "001Y")
    with pytest.raises(TimeZoneError, match="now"):
        waiting.expire(when, HOLD, T0)
    with pytest.raises(TimeZoneError, match="since"):
        waiting.expire(T0 + HOLD, HOLD, when)


def test_notes_are_bounded() -> None:
    assert Order("o", 1, "BRL", S.OPEN, (), T0, note="x" * 200).note
    with pytest.raises(OrderError, match="note"):
        Order("o", 1, "BRL", S.OPEN, (), T0, note="x" * 201)
    with pytest.raises(OrderError, match="note"):
        replace(new_order(), note="x" * 201)


def test_receipt_items_are_in_sku_order_however_the_lines_were_stored() -> None:
    lines = (Line("tea", "Tea", Money(400, "BRL"), 1), Line("cake", "Cake", Money(700, "BRL"), 2))
    order = Order("o", 1, "BRL", S.PAID, lines, T0, tender="cash")
    assert [item["sku"] for item in items_for_receipt(order)] == ["cake", "tea"]
    assert items_for_receipt(order)[0] == {"sku": "cake", "name": "Cake", "qty": 2, "unit": 700}
