"""Selling a pass at the stall: a pass product is sold like any item, and issued when paid.

The box signs the pass with its own device key, under the delegation its creator's key granted
it (`[passes] delegation`, a file in the state dir; `stallbox passes delegate` makes one; or,
when the config names none, the one the cloud granted this box's key, synced: own_delegation.py). No
network: the pass is issued in the very transaction that marks the order paid, stored beside it
(table pass_sales) and named in the sale's signed items, so a crash either keeps the payment
and its pass or neither, and a restart finds the same pass. A box that cannot issue a
product's pass (no delegation for its creator, another box's, out of its window) refuses the
product when it is ordered, naming it: a pass is never sold and then not issued.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.domain.errors import PassNotIssuable
from appliance.domain.orders import Order
from appliance.errors import ConfigError
from appliance.passes.cose import raw_public
from appliance.passes.errors import PassRefused
from appliance.passes.model import PASS_ID_BYTES
from appliance.passes.products import PassProduct, holder_label
from appliance.passes.settings import PassSettings
from appliance.passes.trust import Signer, TrustStore, issue_pass
from appliance.services.box import Box
from appliance.services.own_delegation import OwnDelegation
from appliance.store import pass_sales as pass_sales_sql
from appliance.store.pass_sales import IssuedPass

ISSUED_SKU = "issued:"  # + the pass id: the sale item that records an issued pass


def issued_item(issued: IssuedPass) -> dict[str, str | int]:
    """An issued pass as an item of its sale: nothing to pay, the pass id and its text's hash."""
    return {
        "sku": ISSUED_SKU + issued.pass_id, "name": "Pass issued", "qty": 1, "unit": 0,
        "pass": issued.pass_id, "of": issued.sku, "digest": digest(issued.text),
    }  # fmt: skip


def digest(text: str) -> str:
    """The first 128 bits of SHA-256 of a pass's QR text, in hex: what the sale signs of it."""
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:32]


def load_delegation(settings: PassSettings, state_dir: Path, config: object) -> Signer | None:
    """The verified delegation of `[passes] delegation` (None without one); ConfigError if bad."""
    if not settings.delegation:
        return None
    path = state_dir / settings.delegation
    try:
        document = path.read_bytes()
    except OSError as exc:
        raise ConfigError(config, "passes.delegation", f"{path}: {exc.strerror}") from None
    trust = TrustStore(
        {iss: Ed25519PublicKey.from_public_bytes(raw) for iss, raw in settings.creators.items()}
    )
    try:
        return trust.add_delegation(document)
    except PassRefused as exc:
        raise ConfigError(config, "passes.delegation", f"{path}: refused: {exc}") from None


@dataclass(frozen=True, slots=True)
class PassSales:
    """The node's pass products, and whether this box may issue each one's pass now."""

    products: dict[str, PassProduct]  # by sku
    delegation: Signer | None
    box: Box
    hold: timedelta  # how long an order may wait for payment: the delegation must outlast it
    clock: Callable[[], datetime]
    own: OwnDelegation | None = None  # the configured delegation, else the synced one (no restart)

    def refusal(self, product: PassProduct, now: datetime, ahead: timedelta) -> str | None:
        """Why this box cannot issue `product`'s pass at `now` (and for `ahead` more); None if it can."""
        signer = self.delegation if self.own is None else self.own.signer_for(product.creator)
        if signer is None:
            return "this box holds no delegation ([passes] delegation, or one synced for its key)"
        if signer.issuer != product.creator:
            return f"the box's delegation is from {signer.issuer}, not {product.creator}"
        if raw_public(signer.public) != raw_public(self.box.key.public):
            return "the delegation names another key than this box's (stallbox ledger pubkey)"
        at, until = int(now.timestamp()), int((now + ahead).timestamp())
        if not signer.valid_from <= at or until >= signer.valid_until:
            return f"the delegation is valid from {signer.valid_from} until {signer.valid_until}"
        return None

    def sellable(self, sku: str) -> bool:
        """Whether `sku` may be ordered now (the menu hides a pass product that may not)."""
        product = self.products.get(sku)
        return product is None or self.refusal(product, self.clock(), self.hold) is None

    def check_line(self, sku: str, now: datetime) -> None:
        """Refuse (409 naming the sku) a pass product whose pass this box could not issue."""
        product = self.products.get(sku)
        if product is None:
            return
        reason = self.refusal(product, now, self.hold)
        if reason is not None:
            raise PassNotIssuable(f"{sku}: this box cannot issue {product.creator}'s pass: "
                                  f"{reason}", "sku")  # fmt: skip

    def on_paid(
        self, conn: sqlite3.Connection, order: Order, now: datetime
    ) -> list[dict[str, str | int]]:
        """Issue a pass per unit of each pass product of the paid order (once); their sale items."""
        if not any(line.sku in self.products for line in order.lines):
            return []  # a plain sale: nothing to issue, so nothing can have been issued to read
        issued = pass_sales_sql.issued_for(conn, order.id)
        if not issued:
            issued = self._issue(conn, order, now)
        return [issued_item(one) for one in issued]

    def _issue(self, conn: sqlite3.Connection, order: Order, now: datetime) -> list[IssuedPass]:
        out: list[IssuedPass] = []
        for line in order.lines:
            product = self.products.get(line.sku)
            if product is None:
                continue
            reason = self.refusal(product, now, timedelta(0))
            if reason is not None:  # the whole confirmation rolls back: never paid, not issued
                raise PassNotIssuable(f"{line.sku}: cannot issue {product.creator}'s pass now: "
                                      f"{reason}; cancel the order", "sku")  # fmt: skip
            holder = holder_label(order.note, product.holder, order.number)
            for _ in range(line.qty):
                pass_id = secrets.token_hex(PASS_ID_BYTES)
                card = product.card(pass_id, holder, int(now.timestamp()))
                text = issue_pass(self.box.key.private, card)
                one = IssuedPass(order.id, len(out), line.sku, pass_id, holder, text,
                                 now.isoformat())  # fmt: skip
                pass_sales_sql.insert_issued(conn, one)
                out.append(one)
        return out

    async def issued(self, order_id: str) -> list[IssuedPass]:
        """The passes issued for an order (none until it is paid)."""
        return await self.box.writer.read(lambda conn: pass_sales_sql.issued_for(conn, order_id))


def pass_sales(
    settings: PassSettings | None,
    delegation: Signer | None,
    box: Box,
    hold: timedelta,
    clock: Callable[[], datetime],
    own: OwnDelegation | None = None,
) -> PassSales | None:
    """The node's PassSales, or None when [passes] lists no products."""
    if settings is None or not settings.products:
        return None
    return PassSales({p.sku: p for p in settings.products}, delegation, box, hold, clock, own)
