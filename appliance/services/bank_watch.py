"""The bank watch: while Pix orders wait, ask the provider and confirm what it paid, unasked.

A card terminal gets an answer from the network; this is the node's. While an order tendered
on the provider's rail waits for payment, the watch asks every `poll_s` for the credits since
the oldest one began waiting; a credit that pays an order (appliance.domain.provider_match)
confirms it — the sale receipt and the `bank` evidence line in one transaction — so the
attendee's page flips to paid and the console shows "bank ✓" without a keypress. Sales
confirmed by sight (offline) and still unverified are asked about every `recheck_s`, and get
their `bank` line when the credit shows up.

When the provider cannot be reached the watch backs off (full jitter, capped) and the offline
policy goes on deciding at the stall; nothing is lost, because the next window starts at the
oldest order still waiting. What the provider says that confirms nothing (a wrong amount, an
unknown txid, a reused end-to-end id, a credit for an order paid already) is reported once
per credit, as an event and in the watch's status (GET /api/bank).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from appliance.domain.errors import DomainError
from appliance.domain.orders import OrderState
from appliance.domain.provider_match import Problem, ProviderCredit, Watched, judge
from appliance.ledger.receipt import ReceiptType
from appliance.providers.base import Provider
from appliance.providers.errors import ProviderError, ProviderUnreachable
from appliance.providers.settings import ProviderSettings
from appliance.services.checkout import Checkout, utc_now
from appliance.store import bank as bank_sql
from appliance.store import evidence as evidence_sql
from appliance.store import orders as orders_sql
from appliance.store.errors import StoreError

log = logging.getLogger(__name__)
SKEW = timedelta(minutes=10)  # the PSP's clock may run behind ours
BACKOFF_CAP_S = 8.0
PROBLEMS_KEPT = 100

Publish = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Settled:
    """An order the provider's credit settled: whether the watch sold it, and the totals."""

    order_id: str
    sold: bool  # True: the watch confirmed the sale too (it was waiting for payment)
    total: int
    rail: str
    e2eid: str


@dataclass(slots=True)
class WatchStatus:
    """What GET /api/bank shows: the link to the provider and what it reported."""

    state: str = "idle"  # idle, ok, unreachable, refused
    last_ok: datetime | None = None
    last_error: str = ""
    failures: int = 0
    confirmed: int = 0
    problems: collections.deque[Problem] = field(
        default_factory=lambda: collections.deque(maxlen=PROBLEMS_KEPT)
    )


class BankWatch:
    """Polls one provider for one rail and records what it confirms."""

    def __init__(
        self,
        checkout: Checkout,
        provider: Provider,
        settings: ProviderSettings,
        publish: Publish,
        on_settled: Callable[[Settled], Awaitable[None]] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.checkout = checkout
        self.provider = provider
        self.settings = settings
        self.publish = publish
        self.on_settled = on_settled
        self.clock = clock
        self.status = WatchStatus()
        self._reported: set[tuple[str, str]] = set()
        self._last_poll: datetime | None = None
        self.wake = asyncio.Event()  # set to ask now (a webhook, PUT /webhook/{chave}, later)

    async def run(self) -> None:
        """Poll forever (cancel to stop); never raises for a provider or store failure."""
        while True:
            delay = self.settings.poll_s
            try:
                await self.poll_once()
            except ProviderError as exc:
                delay = self._failed(exc)
            except StoreError as exc:
                log.warning("bank watch: cannot read or record: %s", exc)
            except Exception:  # a bug: logged once with its traceback; the watch keeps going
                log.exception("bank watch: unexpected failure; trying again")
                delay = max(delay, BACKOFF_CAP_S)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)

    async def poll_once(self) -> list[Settled]:
        """One round: ask if anything waits (and is due), record what a credit pays."""
        now = self.clock()
        due = self._last_poll is None or now - self._last_poll >= timedelta(
            seconds=self.settings.recheck_s
        )
        lookback = now - timedelta(hours=self.settings.lookback_h)
        rail = self.settings.rail
        waiting = await self.checkout.box.writer.read(  # every second: the cheap half first
            lambda conn: bank_sql.waiting(conn, rail, lookback if due else None)
        )
        if not waiting.paying and not due:
            return []  # only sold-but-unverified sales may wait: asked every recheck_s
        self._last_poll = now
        if not due:  # asking now: every sale the listing may name must be known
            waiting = await self.checkout.box.writer.read(
                lambda conn: bank_sql.waiting(conn, rail, lookback)
            )
        if waiting.since is None:
            self.status.state = "idle" if self.status.state != "refused" else "refused"
            return []
        listed = await self.provider.credits(waiting.since - SKEW, now + timedelta(minutes=1))
        self._succeeded()  # credits to another key of the account are another box's sales
        credits = [credit for credit in listed if credit.paid_to(self.settings.key)]
        return await self._record(waiting.orders, credits, waiting.banked)

    async def _record(
        self, watched: tuple[Watched, ...], credits: list[ProviderCredit], banked: frozenset[str]
    ) -> list[Settled]:
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> tuple[list[Settled], list[Problem]]:
            verdict = judge(watched, credits, bank_sql.settled(conn), banked)
            done = []
            for order, credit in verdict.confirm:
                conn.execute("SAVEPOINT bank_settle")  # one order's failure undoes only its own
                try:
                    settled = self._settle_tx(conn, order, credit, now)
                except DomainError as exc:  # out of stock, say: the vendor settles it by hand
                    conn.execute("ROLLBACK TO bank_settle")
                    log.warning("bank watch: order %s not confirmed: %s", order.order_id, exc)
                    settled = None
                conn.execute("RELEASE bank_settle")
                if settled is not None:
                    done.append(settled)
            return done, list(verdict.problems)

        done, problems = await self.checkout.box.writer.run_off_loop(tx)
        for settled in done:
            self.status.confirmed += 1
            if self.on_settled is not None:
                await self.on_settled(settled)
            self.publish("order", {"id": settled.order_id, "state": "paid", "evidence": "bank"})
        for problem in problems:
            self._report(problem)
        return done

    def _settle_tx(
        self, conn: sqlite3.Connection, watched: Watched, credit: ProviderCredit, now: datetime
    ) -> Settled | None:
        """Sell (if it still waits) and sign the `bank` line; None if the order moved on."""
        order = orders_sql.load_order(conn, watched.order_id)
        sold = order.state is OrderState.AWAITING_PAYMENT
        if sold:
            done = self.checkout.confirm_tx(conn, order.id, now, operator="provider")
            if not done.accepted:
                return None
        elif order.state is not OrderState.PAID:
            return None  # cancelled or expired meanwhile: the statement will show the credit
        seq = int(str(orders_sql.order_column(conn, order.id, "receipt_seq")))
        if "b" in evidence_sql.recorded(conn).get(seq, set()):
            return None
        items = {"state": "bank", "source": f"provider:{self.provider.name}", "credit": credit.key}
        self.checkout.box.append(conn, kind=ReceiptType.EVIDENCE, at=now, total=order.total.minor,
                                 items=items, ref=f"b{seq}", order_id=order.id)  # fmt: skip
        return Settled(order.id, sold, order.total.minor, self.settings.rail, credit.e2eid)

    def _report(self, problem: Problem) -> None:
        """Report a problem once per credit and kind: log, status, event."""
        key = (problem.credit.e2eid, problem.finding.value)
        if key in self._reported:
            return
        self._reported.add(key)
        self.status.problems.append(problem)
        log.warning("bank watch: %s: credit %s (txid %r, %s): %s", problem.finding.value,
                    problem.credit.e2eid, problem.credit.txid, problem.credit.amount,
                    problem.detail)  # fmt: skip
        self.publish("bank", problem_out(problem))

    def _succeeded(self) -> None:
        if self.status.state not in ("ok", "idle"):
            self.publish("bank", {"link": "ok"})
        self.status.state, self.status.failures = "ok", 0
        self.status.last_ok, self.status.last_error = self.clock(), ""

    def _failed(self, exc: ProviderError) -> float:
        """Record the failure; the delay before the next try (full jitter, capped)."""
        unreachable = isinstance(exc, ProviderUnreachable)
        state = "unreachable" if unreachable else "refused"
        if state != self.status.state or str(exc) != self.status.last_error:
            log.warning("bank watch: %s", exc)
            self.publish("bank", {"link": state, "error": str(exc)})
        self.status.state, self.status.last_error = state, str(exc)
        self.status.failures += 1
        cap = min(BACKOFF_CAP_S, self.settings.poll_s * 2**self.status.failures)
        if not unreachable:
            cap = max(cap, min(self.settings.recheck_s, 30.0))  # someone must act first
        return max(self.settings.poll_s, random.uniform(0, cap))


def problem_out(problem: Problem) -> dict[str, Any]:
    """A problem as JSON: what was found, the credit, and the order it names."""
    credit = problem.credit
    return {
        "problem": problem.finding.value,
        "e2eid": credit.e2eid,
        "txid": credit.txid,
        "amount": credit.amount.minor,
        "currency": credit.amount.currency,
        "at": credit.at.isoformat(),
        "order": problem.order_id,
        "detail": problem.detail,
    }
