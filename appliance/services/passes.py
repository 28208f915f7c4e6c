"""Passes at the node: the trust store built from [passes] and the state dir, and their use.

A pass the phone sends is only text: the node verifies it offline (signature, delegation,
validity, revocation) each time, and counts an allowance's redemptions itself, per pass id and
period, in the order's own transaction — so a screenshot of a pass redeems nothing twice.
With a `book` (services/pass_peers.py) a box counts its peers' redemptions too, and redeems
the whole allowance while every peer is in sight, only its share (`units_left`) otherwise;
without one, each box redeems at most its share, which bounds the over-redemption across boxes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.domain.orders import Order
from appliance.errors import ConfigError
from appliance.passes.allowance import offline_quota
from appliance.passes.apply import allowances, discounts_for, early_minutes
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.model import Entitlement, Pass, Period
from appliance.passes.settings import PassSettings
from appliance.passes.trust import TrustStore
from appliance.store import orders as orders_sql

MAX_DOCUMENT = 16 * 1024 * 1024  # a revocation list of 100,000 ids is about 1.7 MB


def _read(state_dir: Path, name: str, key: str, config: object) -> bytes:
    path = state_dir / name
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT:
            raise ConfigError(config, key, f"{path}: {size} bytes, at most {MAX_DOCUMENT}")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(config, key, f"{path}: {exc.strerror}") from None


def load_trust(settings: PassSettings, state_dir: Path, config: object) -> TrustStore:
    """The trust store of [passes]; ConfigError naming the key of a missing or refused document."""
    trust = TrustStore(
        {iss: Ed25519PublicKey.from_public_bytes(raw) for iss, raw in settings.creators.items()}
    )
    named = [("passes.delegation", settings.delegation)] if settings.delegation else []
    for key, name in named:
        try:
            trust.add_delegation(_read(state_dir, name, key, config))
        except PassRefused as exc:
            raise ConfigError(config, key, f"{name}: refused: {exc}") from None
    for i, name in enumerate(settings.revocations):
        key = f"passes.revocations[{i}]"
        try:
            trust.add_revocations(_read(state_dir, name, key, config))
        except PassRefused as exc:
            raise ConfigError(config, key, f"{name}: refused: {exc}") from None
    return trust


class Book(Protocol):
    """What counts an allowance across boxes (services/pass_peers.PassPeers)."""

    def left(self, conn: sqlite3.Connection, pass_id: str, period: str, allowance: int) -> int:
        """Units of an allowance this box may redeem now."""
        ...


class PassDesk:
    """Verifies the passes phones present and works out what they grant at this box."""

    def __init__(
        self,
        settings: PassSettings | None,
        trust: TrustStore | None,
        clock: Callable[[], datetime],
        zone: tzinfo,
        book: Book | None = None,
    ) -> None:
        self.settings = settings or PassSettings()
        self.book = book
        self.trust = trust
        self.clock = clock
        self.zone = zone

    def verify(self, text: str) -> Pass:
        """The verified pass; PassRefused naming the reason (no [passes]: undelegated)."""
        if self.trust is None:
            raise PassRefused(Reason.UNDELEGATED, "this box trusts no creator's passes")
        return self.trust.verify(text.strip(), int(self.clock().timestamp()))

    def period(self, index: int, entitlement: Entitlement) -> str:
        """The period an allowance counts in now: the event's id or the stall-local day."""
        if entitlement.period is Period.DAY:
            base = self.clock().astimezone(self.zone).date().isoformat()
        else:
            base = self.settings.event
        return f"{base}/{index}"  # one count per allowance of the pass

    def discount(self, card: Pass) -> Callable[[sqlite3.Connection, Order], Order]:
        """A function, run inside the order's transaction, that puts the pass's discounts on it."""

        def apply(conn: sqlite3.Connection, order: Order) -> Order:
            left: dict[int, tuple[str, int]] = {}
            for index, entitlement in allowances(card):
                period = self.period(index, entitlement)
                if self.book is not None:
                    left[index] = (
                        period,
                        self.book.left(conn, card.pass_id, period, entitlement.value),
                    )
                    continue
                share = offline_quota(entitlement.value, self.settings.boxes, self.settings.split)
                used = orders_sql.redeemed(conn, card.pass_id, period)
                left[index] = (period, max(0, share - used))
            return order.with_discounts(discounts_for(card, order.lines, order.currency, left))

        return apply

    @staticmethod
    def early_minutes(card: Pass | None, drop_id: int) -> int:
        """Minutes before a drop's public start that `card` admits a claim (0 without a pass)."""
        return 0 if card is None else early_minutes(card, drop_id)
