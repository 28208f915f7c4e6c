"""The configured rails, as the checkout service sees them: payloads and cached QR codes.

Each order's code is built once (even with the fast mask choice a code costs milliseconds here,
several times that on a Pi) and kept in a bounded LRU cache keyed by (rail, amount, reference);
drops pre-render theirs before the doors open.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

from appliance.domain.money import Money
from appliance.payments.config import CURRENCY, CashRail, RailConfig, amount_limits
from appliance.payments.errors import PaymentError
from appliance.payments.rails import payload as make_payload
from appliance.payments.render import RenderedCode

CACHE_SIZE = 2048
LEVEL = "M"  # EPC069-12 requires exactly M; M also scans best off a phone screen for the rest


class RailRegistry:
    """Payloads and QR codes for the stall's configured rails."""

    def __init__(
        self, rails: Mapping[str, RailConfig], currency: str, cache_size: int = CACHE_SIZE
    ) -> None:
        self.rails = dict(rails)
        self.currency = currency
        self._cache: OrderedDict[tuple[str, int | None, str | None], RenderedCode] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_config(
        cls, rails: Mapping[str, RailConfig], currency: str | None = None
    ) -> RailRegistry:
        """Build from parse_rails() output; the currency defaults to the one the rails imply."""
        if currency is None:
            implied = {CURRENCY[type(rail)] for rail in rails.values() if type(rail) in CURRENCY}
            if len(implied) != 1:
                raise PaymentError(
                    "the stall's currency is needed: the rails do not imply exactly one"
                    f" (they imply {sorted(implied) or 'none'})"
                )
            currency = implied.pop()
        return cls(rails, currency)

    def rail_names(self) -> list[str]:
        """Configured rails other than cash, in config order."""
        return [name for name, rail in self.rails.items() if not isinstance(rail, CashRail)]

    def _rail(self, name: str) -> RailConfig:
        rail = self.rails.get(name)
        if rail is None or isinstance(rail, CashRail):
            what = "is cash, which has no code" if rail is not None else "is not configured"
            raise PaymentError(
                f"rail {name!r} {what} (payment rails: {', '.join(self.rail_names()) or 'none'})",
                "rail",
            )
        return rail

    def payload(self, rail: str, amount: Money | None, reference: str | None) -> str:
        """The exact QR text for this rail, amount and reference; None amount makes a sign."""
        config = self._rail(rail)
        if amount is not None:
            self._check_amount(rail, config, amount)
        try:
            return make_payload(config, amount, reference, self.currency)
        except PaymentError as exc:
            raise type(exc)(f"rail {rail!r}: {exc}", exc.field) from None

    def check_amount(self, rail: str, amount: Money) -> None:
        """PaymentError unless `rail` is a configured rail that takes `amount` (what `payload`
        checks first, and what every rail's code refuses: nothing to pay), for a caller that builds
        the code later (a drop claim: services/drops.py)."""
        config = self._rail(rail)
        if amount.minor <= 0:  # a free drop's claim is paid in cash or not at all
            raise PaymentError(f"rail {rail!r}: amount {amount} must be positive", "amount")
        self._check_amount(rail, config, amount)

    def _check_amount(self, rail: str, config: RailConfig, amount: Money) -> None:
        if amount.currency != self.currency:
            raise PaymentError(
                f"rail {rail!r}: amount in {amount.currency}, the stall sells in {self.currency}",
                "amount",
            )
        low, high = amount_limits(config, self.currency)
        if low is not None and amount < low:
            raise PaymentError(f"rail {rail!r}: {amount} is under its minimum {low}", "amount")
        if high is not None and amount > high:
            raise PaymentError(f"rail {rail!r}: {amount} is over its maximum {high}", "amount")

    def qr(self, rail: str, amount: Money | None, reference: str | None) -> RenderedCode:
        """The order's QR code, built once and then served from the cache."""
        key = (rail, None if amount is None else amount.minor, reference)
        code = self._cache.get(key)
        if code is not None:
            self._cache.move_to_end(key)
            return code
        code = RenderedCode(self.payload(rail, amount, reference), LEVEL)
        self._cache[key] = code
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return code

    def prerender(self, requests: Iterable[tuple[str, Money | None, str | None]]) -> int:
        """Build (and cache) a batch of codes ahead of time, PNG included; return how many."""
        count = 0
        for rail, amount, reference in requests:
            self.qr(rail, amount, reference).png()
            count += 1
        return count
