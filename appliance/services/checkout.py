"""The checkout use cases: ring up an order, take a tender, confirm payment, cancel, void.

The offline policy decides at tender (services/tender_policy.py); confirmation stands on the
tender's recorded decision and never refuses a payment the payer was invited to make.

Each use case is one transaction function run on the writer's thread, so a confirmation — the
order's move to paid, the stock it takes, the policy decision, the signed receipt and therefore
its place in the outbox — commits together or not at all. Confirmations that arrive together share
one commit (group commit); each still gets its own receipt.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Protocol

from appliance.domain.catalog import Item
from appliance.domain.errors import OrderError, TransitionRefused
from appliance.domain.money import Money
from appliance.domain.orders import Order, OrderState, items_for_receipt
from appliance.domain.policy import Decision, Limits
from appliance.ledger.receipt import Receipt, ReceiptType, canonical_sale_lines
from appliance.payments.reference import order_reference
from appliance.services.box import Box
from appliance.services.flags import offer_price
from appliance.services.sale_hooks import SaleHooks
from appliance.services.tender_policy import Refusal, TenderPolicy, or_raise
from appliance.store import drops as drops_sql
from appliance.store import ledger as ledger_sql
from appliance.store import orders as orders_sql
from appliance.store import sales as sales_sql
from appliance.store.errors import NotBuilt, NotFound

CASH = "cash"
_by_sku = attrgetter("sku")


class PaymentPort(Protocol):
    """What checkout needs from the payment rails (appliance.payments.registry.RailRegistry)."""

    def rail_names(self) -> list[str]:
        """Configured rails other than cash, in config order."""
        ...

    def payload(self, rail: str, amount: Money, reference: str) -> str:
        """The exact text of the payment QR for this amount and reference."""
        ...


@dataclass(frozen=True, slots=True)
class Tendered:
    """An order waiting for payment, with what the payer needs to pay it."""

    order: Order
    reference: str
    payload: str | None  # the payment QR text; None for cash


def _check_cash(order: Order, rail: str, received: int) -> None:
    """Cash handed over is given only for a cash order, and covers its total."""
    if rail != CASH:
        raise OrderError(f"cash_received is for cash orders; this one is {rail}", "cash_received")
    if received < order.total.minor:
        given = Money(received, order.currency).decimal()
        raise OrderError(
            f"cash_received {given} is less than the total {order.total.decimal()}",
            "cash_received",
        )


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The outcome of a confirmation: the decision always, the receipt when it was accepted."""

    order: Order
    decision: Decision
    receipt: Receipt | None
    at_tender: bool = False  # the decision is the tender's, recorded then (not taken now)

    @property
    def accepted(self) -> bool:
        """True when the sale went through."""
        return self.receipt is not None


def utc_now() -> datetime:
    """The real clock; services take a clock so tests can pass their own."""
    return datetime.now(UTC)


def new_order_id(number: int) -> str:
    """An order's id: its number in 8 hex digits, then 64 random bits.

    The random half makes the id unguessable (an order's URL is its capability). The number in
    front makes each new id sort after the last, so the indexes on order ids (orders, their lines,
    drop claims) grow at their right edge instead of at a random page each: a drop claim writes
    3.9 KiB to disk instead of 20 KiB and its transaction takes 96 instead of 128 µs (2-vCPU VM,
    64,000 claims) — an SD card notices the first figure more than the second.
    """
    return f"{number:08x}{secrets.token_hex(8)}"


class Checkout:
    """Checkout use cases over one box; every method is one write transaction."""

    def __init__(
        self,
        box: Box,
        *,
        limits: Mapping[str, Limits] | None = None,
        hold: timedelta = timedelta(minutes=15),
        payments: PaymentPort | None = None,
        clock: Callable[[], datetime] = utc_now,
        reference_prefix: str = "",
    ) -> None:
        self.box = box
        self.reference_prefix = reference_prefix  # [stall]: this box's among an account's
        self.limits = dict(limits or {})
        self.hold = hold
        self.payments = payments
        self.clock = clock
        self.policy = TenderPolicy(self.limits, clock, self.tenders)
        self.hooks: SaleHooks | None = None  # set by the node when it sells passes

    def tenders(self) -> list[str]:
        """Tenders this stall accepts: cash and every configured rail."""
        return [CASH, *(self.payments.rail_names() if self.payments else [])]

    async def offered(self, amount: Money) -> list[str]:
        """Tenders to offer a payer of `amount` (the attendee's cart, a drop page)."""
        return await self.box.writer.read(lambda conn: self.policy.offered_tx(conn, amount))

    async def offered_for(self, order_id: str) -> list[str]:
        """Tenders to offer for an order's total (the console's tender choice)."""

        def read(conn: sqlite3.Connection) -> list[str]:
            order = orders_sql.load_order(conn, order_id)
            return self.policy.offered_tx(conn, order.total, order.id)

        try:
            return await self.box.writer.read(read)
        except NotBuilt:  # a drop claim's order: built in a write transaction, then read
            return await self.box.writer.run(read)

    def new_order(
        self, conn: sqlite3.Connection, lines: Iterable[tuple[Item, int]] = (), note: str = ""
    ) -> Order:
        """An open order with the next number and these lines, built in memory (nothing stored)."""
        number = orders_sql.next_order_number(conn)
        order = Order(
            id=new_order_id(number),
            number=number,
            currency=self.box.currency,
            state=OrderState.OPEN,
            lines=(),
            created_at=self.clock(),
            note=note,
        )
        for item, qty in lines:
            if self.hooks is not None:
                self.hooks.check_line(item.sku, order.created_at)
            order = order.add_line(item, qty)
        return order

    async def create_order(self, note: str = "", lines: Iterable[tuple[str, int]] = ()) -> Order:
        """Open an order, with lines if given, in one transaction: a bad line stores nothing."""
        wanted = list(lines)

        def tx(conn: sqlite3.Connection) -> Order:
            items = [(orders_sql.load_item(conn, sku), qty) for sku, qty in wanted]
            order = self.new_order(conn, items, note)
            orders_sql.insert_order(conn, order)
            return order

        return await self.box.writer.run(tx)

    async def place_order(
        self,
        lines: Iterable[tuple[str, int]],
        tender: str,
        note: str = "",
        discount: Callable[[sqlite3.Connection, Order], Order] | None = None,
        upsell: tuple[str, int | None] | None = None,
    ) -> Tendered:
        """Open an order with its lines and tender in one transaction (an attendee's checkout).

        `discount` (a pass's, services/passes.py) puts discounts on the open order inside the
        same transaction, so the allowance it counts and the order it redeems in commit together.
        `upsell` is an accepted flag offer: one more item (sku) at the offer's price (minor
        units, never above the catalogue's; None for the catalogue's), unless already ordered.
        """
        wanted = list(lines)

        def tx(conn: sqlite3.Connection) -> Tendered | Refusal:
            items = [(orders_sql.load_item(conn, sku), qty) for sku, qty in wanted]
            if upsell is not None and all(sku != upsell[0] for sku, _ in wanted):
                items.append((offer_price(orders_sql.load_item(conn, upsell[0]), upsell[1]), 1))
            order = self.new_order(conn, items, note)
            if discount is not None:
                order = discount(conn, order)
            waiting = self.tendered(order, tender)
            decision = self.policy.decide_tx(conn, tender, waiting.order.total)
            if not decision.accepted:  # no order is stored; the refusal is
                return self.policy.refusal_tx(conn, decision, None)
            orders_sql.insert_order(conn, waiting.order)
            self.policy.accept_tx(conn, decision, waiting.order.id, new=True)
            return waiting

        return or_raise(await self.box.writer.run(tx))

    async def add_line(self, order_id: str, sku: str, qty: int = 1) -> Order:
        """Add `qty` of an item to an open order."""

        def tx(conn: sqlite3.Connection) -> Order:
            order = orders_sql.load_order(conn, order_id)
            if self.hooks is not None:
                self.hooks.check_line(sku, self.clock())
            changed = order.add_line(orders_sql.load_item(conn, sku), qty)
            orders_sql.update_order(conn, changed, self.clock())
            orders_sql.replace_lines(conn, changed)
            return changed

        return await self.box.writer.run(tx)

    async def remove_line(self, order_id: str, sku: str, qty: int | None = None) -> Order:
        """Remove `qty` (or all) of an item from an open order."""

        def tx(conn: sqlite3.Connection) -> Order:
            changed = orders_sql.load_order(conn, order_id).remove_line(sku, qty)
            orders_sql.update_order(conn, changed, self.clock())
            orders_sql.replace_lines(conn, changed)
            return changed

        return await self.box.writer.run(tx)

    async def choose_tender(
        self,
        order_id: str,
        tender: str,
        *,
        operator: str | None = None,
        override_reason: str | None = None,
    ) -> Tendered:
        """Choose cash or a rail the policy accepts (or the operator overrides, with a reason).

        TenderRefused when the policy refuses: the refusal is recorded, the order is unchanged.
        """
        return or_raise(
            await self.box.writer.run(
                lambda conn: self.tender_tx(conn, order_id, tender, operator, override_reason)
            )
        )

    def tender_tx(
        self,
        conn: sqlite3.Connection,
        order_id: str,
        tender: str,
        operator: str | None = None,
        override_reason: str | None = None,
    ) -> Tendered | Refusal:
        """choose_tender's transaction."""
        waiting = self.tendered(orders_sql.load_order(conn, order_id), tender)
        decision = self.policy.decide_tx(
            conn,
            tender,
            waiting.order.total,
            order_id=order_id,
            operator=operator,
            override_reason=override_reason,
        )
        if not decision.accepted:
            return self.policy.refusal_tx(conn, decision, order_id)
        self.policy.accept_tx(conn, decision, order_id)
        orders_sql.update_order(conn, waiting.order, self.clock())
        return waiting

    def require_offered(self, tender: str) -> None:
        """OrderError naming `tender` unless this stall accepts it."""
        if tender not in self.tenders():
            raise OrderError(f"tender {tender!r} is not offered here (one of {self.tenders()})")

    def tendered(self, order: Order, tender: str, reference: str | None = None) -> Tendered:
        """The order waiting for payment by `tender`, with its payload (nothing stored)."""
        self.require_offered(tender)
        reference = reference or order_reference(order.number, self.reference_prefix)
        waiting = order.choose_tender(tender, reference)
        payload = None
        if tender != CASH:
            assert self.payments is not None
            payload = self.payments.payload(tender, waiting.total, reference)
        return Tendered(waiting, reference, payload)

    async def confirm(
        self,
        order_id: str,
        *,
        operator: str | None = None,
        override_reason: str | None = None,
        cash_received: int | None = None,
    ) -> Confirmation:
        """Confirm payment: sell and sign on the tender's decision.

        An order tendered before the policy decided at tender (an older box) is decided now.
        `cash_received` (minor units, cash orders only, at least the total) is kept for the
        receipt page's change due.
        """
        now = self.clock()
        return await self.box.writer.run(
            lambda conn: self.confirm_tx(
                conn, order_id, now, operator, override_reason, cash_received
            )
        )

    def confirm_tx(
        self,
        conn: sqlite3.Connection,
        order_id: str,
        now: datetime,
        operator: str | None = None,
        override_reason: str | None = None,
        cash_received: int | None = None,
    ) -> Confirmation:
        """confirm's transaction (the bank watch confirms inside a transaction of its own).

        One read (store/sales.py), then the stock, the receipt and the order: a statement each.
        """
        found = sales_sql.to_confirm(conn, order_id, CASH)
        if found is None:  # load_order says NotFound (or builds what it may), then read again
            orders_sql.load_order(conn, order_id)
            if (found := sales_sql.to_confirm(conn, order_id, CASH)) is None:
                raise NotFound(f"no order {order_id!r}")
        order = found.order
        paid = order.pay()
        rail = order.tender or CASH
        if cash_received is not None:
            _check_cash(order, rail, cash_received)
        claim = drops_sql.claim_of_order(conn, order.id) if found.claimed else None
        self._refuse_lapsed(conn, order, claim, now)
        stocked = () if claim is not None else order.lines  # a drop claim already holds its units
        # Refuse before deciding: nothing to decide if none left.
        sales_sql.take_stock(conn, stocked, found.unlimited)
        decision = found.decision
        at_tender = decision is not None
        if decision is None:
            decision = self.policy.decide_tx(
                conn, rail, order.total, operator=operator, override_reason=override_reason
            )
            orders_sql.record_decision(conn, decision, order.id)
        if not decision.accepted:
            for line in stocked:
                orders_sql.return_stock(conn, line.sku, line.qty)
            return Confirmation(order, decision, None)
        # e.g. a pass issued for a pass product: an item of the sale
        extra = [] if self.hooks is None else self.hooks.on_paid(conn, paid, now)
        items: list[dict[str, str | int]] | bytes | None = None
        if not extra and not order.discounts:  # lines alone: their canonical bytes, no objects
            lines = sorted(order.lines, key=_by_sku)  # items_for_receipt's order
            items = canonical_sale_lines(
                [(ln.sku, ln.name, ln.qty, ln.unit_price.minor) for ln in lines]
            )
        if items is None:
            items = sorted(items_for_receipt(order) + extra, key=lambda i: str(i["sku"]))
        receipt = self.box.append(
            conn,
            kind=ReceiptType.SALE,
            at=now,
            total=order.total.minor,
            items=items,
            ref=order.reference,
            order_id=order.id,
            head=found.head,
        )
        sales_sql.mark_paid(conn, paid, now, receipt.seq, cash_received)
        if claim is not None:
            drops_sql.set_claim_state(conn, claim, "paid")
        return Confirmation(paid, decision, receipt, at_tender)

    def _refuse_lapsed(
        self, conn: sqlite3.Connection, order: Order, claim: drops_sql.Claim | None, now: datetime
    ) -> None:
        """TransitionRefused, as once the expiry sweep has run, if the order's hold ended by `now`.

        The sweep (expire_due, Drops.expire_holds) runs every second; until it does, a lapsed
        order still reads as waiting, and the box's clock (never the payer's) says it is not.
        """
        if claim is not None:  # a drop claim: its drop's hold, from the claim
            ends = claim.expires_at if claim.state == "held" else None
        elif now - order.created_at >= self.hold:  # tendered at or after created_at: else in time
            since = str(orders_sql.order_column(conn, order.id, "updated_at"))  # as expire_due
            ends = datetime.fromisoformat(since) + self.hold
        else:
            return
        if ends is not None and ends <= now:
            raise TransitionRefused(
                f"order is {OrderState.EXPIRED}, cannot become {OrderState.PAID}"
                f" (its hold ended at {ends.isoformat()})"
            )

    async def cancel(self, order_id: str) -> Order:
        """Cancel an order that has not been paid."""

        def tx(conn: sqlite3.Connection) -> Order:
            cancelled = orders_sql.load_order(conn, order_id).cancel()
            orders_sql.update_order(conn, cancelled, self.clock())
            orders_sql.settle_order_decisions(conn, order_id)  # no longer at risk
            return cancelled

        return await self.box.writer.run(tx)

    async def ready(self, order_id: str) -> Order:
        """Mark a paid order ready for pick-up (the attendee's receipt page says so)."""

        def tx(conn: sqlite3.Connection) -> Order:
            ready = orders_sql.load_order(conn, order_id).mark_ready(self.clock())
            orders_sql.update_order(conn, ready, self.clock())
            return ready

        return await self.box.writer.run(tx)

    async def void(self, order_id: str) -> Receipt:
        """Void a paid order: a void receipt naming the sale's seq, and the stock back."""
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> Receipt:
            order = orders_sql.load_order(conn, order_id)
            voided = order.void()
            sale_seq = orders_sql.order_column(conn, order.id, "receipt_seq")
            if drops_sql.claim_of_order(conn, order.id) is None:  # a drop's units do not come back
                for line in order.lines:
                    orders_sql.return_stock(conn, line.sku, line.qty)
            orders_sql.settle_order_decisions(conn, order.id)
            sale = ledger_sql.get_receipt(conn, int(str(sale_seq)))  # its items exactly (rule 11)
            receipt = self.box.append(
                conn,
                kind=ReceiptType.VOID,
                at=now,
                total=order.total.minor,
                items=items_for_receipt(order) if sale is None else json.loads(sale.items),
                ref=str(sale_seq),
                order_id=order.id,
            )
            orders_sql.update_order(conn, voided, now, void_seq=receipt.seq)
            return receipt

        return await self.box.writer.run(tx)

    async def expire_due(self) -> list[str]:
        """Expire orders that waited for payment longer than the hold; return their ids."""
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> list[str]:
            expired = []
            for order_id, since in orders_sql.waiting_since(conn, now - self.hold):
                order = orders_sql.load_order(conn, order_id)
                expired_order = order.expire(now, self.hold, datetime.fromisoformat(since))
                orders_sql.update_order(conn, expired_order, now)
                orders_sql.settle_order_decisions(conn, order_id)  # no longer at risk
                expired.append(order_id)
            return expired

        return await self.box.writer.run_off_loop(tx)  # the sweep: no request waits on it

    async def close_day(self) -> Receipt:
        """Sign a daily-close receipt summing the sales and voids since the previous close."""
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> Receipt:
            summary = ledger_sql.since_last_close(conn)
            return self.box.append(
                conn, kind=ReceiptType.CLOSE, at=now, total=summary["gross"], items=summary
            )

        return await self.box.writer.run(tx)

    async def get_order(self, order_id: str) -> Order:
        """Read one order (it sees every committed change; it shares no write batch's fate)."""
        try:
            return await self.box.writer.read(lambda conn: orders_sql.load_order(conn, order_id))
        except NotBuilt:  # a drop claim's order, built when first asked for (store/drops.py)
            return await self.box.writer.run(lambda conn: orders_sql.load_order(conn, order_id))
