"""What a verified pass takes off an order, and how early it lets its holder into a drop.

Pure: the order's lines, the pass and how much of each allowance is left in, discount lines
out. The order of application is fixed (docs/passes.md, "At checkout"): allowances first (whole
units free, the dearest covered unit first), then percentages, then fixed amounts, each on
what the ones before left to pay, so a total never goes below zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from appliance.domain.money import Money
from appliance.domain.orders import Discount, Line
from appliance.passes.model import Entitlement, Kind, Pass


def _covers(entitlement: Entitlement, target: str) -> bool:
    return not entitlement.targets or target in entitlement.targets


def discounts_for(
    card: Pass, lines: Sequence[Line], currency: str, left: Mapping[int, tuple[str, int]]
) -> tuple[Discount, ...]:
    """The discounts `card` grants on `lines`; `left[i]` is (period, units left) of allowance i."""
    to_pay = {ln.sku: ln.total.minor for ln in lines}
    free_units = {ln.sku: 0 for ln in lines}
    out: list[Discount] = []

    def add(index: int, name: str, amount: int, redeemed: int = 0, period: str = "") -> None:
        if amount > 0:
            sku = f"pass:{card.pass_id}:{index}"
            out.append(Discount(sku, name, Money(amount, currency), card.pass_id, redeemed, period))

    for index, e in enumerate(card.entitlements):
        if e.kind is not Kind.ALLOWANCE or index not in left:
            continue
        period, units = left[index]
        amount = redeemed = 0
        for line in sorted(lines, key=lambda ln: -ln.unit_price.minor):
            if not _covers(e, line.sku):
                continue
            take = min(units - redeemed, line.qty - free_units[line.sku])
            free_units[line.sku] += take
            redeemed += take
            amount += take * line.unit_price.minor
            to_pay[line.sku] -= take * line.unit_price.minor
        add(index, f"Pass: {redeemed} free", amount, redeemed, period)
    for index, e in enumerate(card.entitlements):
        if e.kind is Kind.PERCENT_OFF:
            cut = {sku: paid * e.value // 100 for sku, paid in to_pay.items() if _covers(e, sku)}
            for sku, minor in cut.items():
                to_pay[sku] -= minor
            add(index, f"Pass: {e.value}% off", sum(cut.values()))
    for index, e in enumerate(card.entitlements):
        if e.kind is Kind.AMOUNT_OFF and e.currency == currency:
            wanted, taken = e.value, 0
            for sku in sorted(to_pay):
                if _covers(e, sku):
                    minor = min(wanted - taken, to_pay[sku])
                    to_pay[sku] -= minor
                    taken += minor
            add(index, "Pass: amount off", taken)
    return tuple(out)


def allowances(card: Pass) -> list[tuple[int, Entitlement]]:
    """The pass's allowance entitlements with their index (the index names them in a period)."""
    return [(i, e) for i, e in enumerate(card.entitlements) if e.kind is Kind.ALLOWANCE]


def early_minutes(card: Pass, drop_id: int) -> int:
    """How many minutes before a drop's public start `card` admits a claim (0: not early)."""
    return max(
        (
            e.value
            for e in card.entitlements
            if e.kind is Kind.EARLY_ACCESS and _covers(e, str(drop_id))
        ),
        default=0,
    )
