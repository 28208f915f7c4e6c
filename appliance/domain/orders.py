"""Orders and their state machine.

    open ──▶ awaiting_payment ──▶ paid ──▶ voided
      │             ├──▶ cancelled
      └──▶ cancelled└──▶ expired

Every other transition is refused with TransitionRefused. open → cancelled is there so a vendor
can drop a cart before a tender is chosen. Orders are immutable: each operation returns a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from appliance.domain.catalog import Item
from appliance.domain.errors import MoneyError, OrderError, TimeZoneError, TransitionRefused
from appliance.domain.money import Money, exponent, whole_number

QTY_MAX = 999
TOTAL_MAX = 999_999_999_999  # minor units: a receipt line's total has at most 12 digits
NOTE_MAX = 200


class OrderState(StrEnum):
    """Where an order is in its life."""

    OPEN = "open"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    VOIDED = "voided"


TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = MappingProxyType(
    {
        OrderState.OPEN: frozenset({OrderState.AWAITING_PAYMENT, OrderState.CANCELLED}),
        OrderState.AWAITING_PAYMENT: frozenset(
            {OrderState.PAID, OrderState.CANCELLED, OrderState.EXPIRED}
        ),
        OrderState.PAID: frozenset({OrderState.VOIDED}),
        OrderState.CANCELLED: frozenset(),
        OrderState.EXPIRED: frozenset(),
        OrderState.VOIDED: frozenset(),
    }
)


def check_transition(current: OrderState, target: OrderState) -> None:
    """Raise TransitionRefused unless `current` may become `target`."""
    if target not in TRANSITIONS[current]:
        raise TransitionRefused(f"order is {current}, cannot become {target}")


def require_aware(at: datetime, what: str = "time") -> None:
    """Refuse naive and non-UTC datetimes: the domain works in aware UTC only."""
    if at.tzinfo is UTC:  # what the store's times parse to: no utcoffset() call to make
        return
    offset = at.utcoffset()
    if offset is None:
        raise TimeZoneError(f"{what} must be timezone-aware (UTC), got naive {at.isoformat()}")
    if offset:
        raise TimeZoneError(f"{what} must be in UTC, got offset {at.isoformat()[-6:]}")


@dataclass(frozen=True, slots=True)
class Line:
    """A quantity of one item at the unit price it had when added."""

    sku: str
    name: str
    unit_price: Money
    qty: int

    def __post_init__(self) -> None:
        if not whole_number(self.qty) or not 1 <= self.qty <= QTY_MAX:
            raise OrderError(f"{self.sku}: quantity must be 1-{QTY_MAX}, got {self.qty}")

    @property
    def total(self) -> Money:
        """Unit price times quantity."""
        return self.unit_price * self.qty


@dataclass(frozen=True, slots=True)
class Discount:
    """Money off an order that a pass granted: a line of its own, negative on the receipt.

    `redeemed` units of an allowance were used in `period` (0 for a discount that is not an
    allowance); docs/passes.md, "At checkout".
    """

    sku: str  # "pass:" + the pass id + ":" + the entitlement's index: unique in an order
    name: str
    amount: Money  # positive: what comes off the total
    pass_id: str
    redeemed: int = 0
    period: str = ""

    def __post_init__(self) -> None:
        if self.amount.minor <= 0:
            raise OrderError(f"{self.sku}: a discount takes off a positive amount")


@dataclass(frozen=True, slots=True)
class Order:
    """An order: its lines, its state and the tender chosen for it."""

    id: str
    number: int
    currency: str
    state: OrderState
    lines: tuple[Line, ...]
    created_at: datetime
    tender: str | None = None
    reference: str = ""  # the speakable payment reference, set with the tender
    note: str = ""
    ready_at: datetime | None = None  # when the stall said it is ready for pick-up
    discounts: tuple[Discount, ...] = ()  # what passes took off, at most the lines' sum

    def __post_init__(self) -> None:
        require_aware(self.created_at, "created_at")
        exponent(self.currency)
        for line in self.lines:
            if line.unit_price.currency != self.currency:
                raise MoneyError(
                    f"{line.sku} is priced in {line.unit_price.currency}, order in {self.currency}"
                )
        if len(self.note) > NOTE_MAX:
            raise OrderError(f"note: {len(self.note)} characters, at most {NOTE_MAX}")
        if self.discounts and self.total.minor < 0:
            raise OrderError("discounts: they take off more than the order's lines")

    @property
    def total(self) -> Money:
        """The sum of the lines (zero for an empty order)."""
        # In minor units, one Money at the end: __post_init__ has checked that every line is in
        # the order's currency; a discount in another is refused as Money's subtraction did.
        minor = 0
        for line in self.lines:  # a loop: sum() of a generator costs more for a few lines
            minor += line.unit_price.minor * line.qty
        for discount in self.discounts:
            if discount.amount.currency != self.currency:
                raise MoneyError(f"cannot mix {self.currency} and {discount.amount.currency}")
            minor -= discount.amount.minor
        return Money(minor, self.currency)

    def with_discounts(self, discounts: tuple[Discount, ...]) -> Order:
        """The open order with these discounts (lines changed afterwards drop them)."""
        self._require_open()
        return replace(self, discounts=discounts)

    def _move(self, target: OrderState, **changes: object) -> Order:
        check_transition(self.state, target)
        if not changes:  # the state alone (a sale's pay): half of what replace costs, same checks
            return Order(
                self.id, self.number, self.currency, target, self.lines, self.created_at,
                self.tender, self.reference, self.note, self.ready_at, self.discounts,
            )  # fmt: skip
        return replace(self, state=target, **changes)  # type: ignore[arg-type]

    def _require_open(self) -> None:
        if self.state is not OrderState.OPEN:
            raise TransitionRefused(f"order is {self.state}; lines change only while open")

    def add_line(self, item: Item, qty: int) -> Order:
        """Add `qty` of `item` (merging with a line of the same sku)."""
        self._require_open()
        _check_qty(item.sku, qty)
        if item.price.currency != self.currency:
            raise MoneyError(
                f"{item.sku} is priced in {item.price.currency}, order in {self.currency}"
            )
        lines = list(self.lines)
        for i, line in enumerate(lines):
            if line.sku == item.sku:
                lines[i] = replace(line, qty=line.qty + qty)  # re-validated: at most QTY_MAX
                break
        else:
            lines.append(Line(item.sku, item.name, item.price, qty))
        total = sum(line.unit_price.minor * line.qty for line in lines)
        if total > TOTAL_MAX:  # no receipt could carry it: refused here, not at the sale
            raise OrderError(f"total: {total} minor units, at most {TOTAL_MAX}")
        # A pass's discounts are worked out on the final lines: changing them drops any.
        return replace(self, lines=tuple(sorted(lines, key=lambda ln: ln.sku)), discounts=())

    def remove_line(self, sku: str, qty: int | None = None) -> Order:
        """Remove `qty` of `sku`, or the whole line when qty is None."""
        self._require_open()
        if qty is not None:
            _check_qty(sku, qty)
        for i, line in enumerate(self.lines):
            if line.sku == sku:
                if qty is not None and not 1 <= qty <= line.qty:
                    raise OrderError(f"{sku}: can remove 1-{line.qty}, not {qty}")
                left = line.qty - (line.qty if qty is None else qty)
                rest = list(self.lines)
                if left:
                    rest[i] = replace(line, qty=left)
                else:
                    del rest[i]
                return replace(self, lines=tuple(rest), discounts=())
        raise OrderError(f"{sku}: not in this order")

    def choose_tender(self, tender: str, reference: str) -> Order:
        """Wait for payment by `tender` under `reference`; choosing again switches the tender."""
        if self.state is not OrderState.AWAITING_PAYMENT:
            check_transition(self.state, OrderState.AWAITING_PAYMENT)
        if not self.lines:
            raise OrderError("order has no lines")
        if not tender:
            raise OrderError("tender must be named")
        if self.state is OrderState.AWAITING_PAYMENT:
            return replace(self, tender=tender, reference=reference)
        return self._move(OrderState.AWAITING_PAYMENT, tender=tender, reference=reference)

    def pay(self) -> Order:
        """The payment was confirmed."""
        return self._move(OrderState.PAID)

    def cancel(self) -> Order:
        """The order will not be paid."""
        return self._move(OrderState.CANCELLED)

    def expire(self, now: datetime, hold: timedelta, since: datetime) -> Order:
        """The order waited for payment longer than `hold` since `since`."""
        require_aware(now, "now")
        require_aware(since, "since")
        check_transition(self.state, OrderState.EXPIRED)
        if now - since < hold:
            raise OrderError(f"order has waited {now - since}, the hold is {hold}")
        return self._move(OrderState.EXPIRED)

    def mark_ready(self, at: datetime) -> Order:
        """A paid order is ready for pick-up: fulfilment, not payment, so the state stays paid."""
        require_aware(at, "at")
        if self.state is not OrderState.PAID:
            raise TransitionRefused(f"order is {self.state}; only a paid order can be ready")
        return replace(self, ready_at=at)

    def void(self) -> Order:
        """A paid order is taken back."""
        return self._move(OrderState.VOIDED)


def _check_qty(sku: str, qty: int) -> None:
    if not whole_number(qty) or qty <= 0:
        raise OrderError(f"{sku}: quantity must be a positive whole number, got {qty!r}")


def items_for_receipt(order: Order) -> list[dict[str, str | int]]:
    """The order's lines (a pass's discount as qty 1 at a negative unit) in sku order."""
    items: list[dict[str, str | int]] = [
        {"sku": ln.sku, "name": ln.name, "qty": ln.qty, "unit": ln.unit_price.minor}
        for ln in order.lines
    ]
    items += [discount_item(d) for d in order.discounts]
    return sorted(items, key=lambda item: str(item["sku"]))


def discount_item(discount: Discount) -> dict[str, str | int]:
    """A pass's discount as a receipt item: one line at minus the amount, naming the pass, and
    for an allowance the period and units redeemed, so the signed sale records the redemption."""
    item: dict[str, str | int] = {
        "sku": discount.sku, "name": discount.name, "qty": 1, "unit": -discount.amount.minor,
        "pass": discount.pass_id,
    }  # fmt: skip
    if discount.redeemed:
        item |= {"period": discount.period, "redeemed": discount.redeemed}
    return item
