"""The pure parts of the node's flags: an experiment's arms, the switched-off arm's fallback, the
p95 the judge reads, and what an upsell variant may offer (never a surcharge)."""

from __future__ import annotations

from typing import Any

from appliance.domain.catalog import Item
from appliance.domain.money import Money
from appliance.flags.evaluate import FlagSet, Reason
from appliance.services.flags import Arm, Measured, offer_price, upsell_of

DOCUMENT: dict[str, Any] = {
    "flags": {
        "cart-upsell": {
            "state": "ENABLED",
            "variants": {"control": None, "pastel": {"sku": "pastel", "price": 500}, "b": 2},
            "defaultVariant": "control",
            "targeting": {"fractional": [["control", 50], ["pastel", 50]]},
        },
        "static": {"state": "ENABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a"},
        "off": {
            "state": "DISABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a",
            "targeting": {"fractional": [["a", 50], ["b", 50]]},
        },
    }
}  # fmt: skip
FLAGS = FlagSet.from_document(DOCUMENT)


def test_only_an_enabled_flag_with_targeting_is_an_experiment() -> None:
    assert FLAGS.arms("cart-upsell") == ("control", ("pastel", "b"))
    assert FLAGS.arms("static") is None and FLAGS.arms("off") is None
    assert FLAGS.arms("missing") is None
    fallback = FLAGS.fallback("cart-upsell", "code default")
    assert (fallback.value, fallback.variant, fallback.reason) == (None, "control", Reason.DISABLED)
    assert FLAGS.fallback("missing", "code default").value == "code default"


def test_the_p95_is_of_the_recent_samples_in_milliseconds() -> None:
    arm = Measured(views=3)
    assert arm.figures().latency_p95_ms is None and arm.figures().latency_samples == 0
    arm.latencies.extend([0.010] * 95 + [0.500] * 5)
    assert arm.figures().latency_p95_ms == 10.0
    arm.latencies.extend([0.500])  # 6 slow of 101: the 96th of them is slow
    assert arm.figures().latency_p95_ms == 500.0


def test_an_upsell_offers_an_item_at_most_at_its_catalogue_price() -> None:
    pastel = Item("pastel", "Pastel", Money(950, "BRL"), 40)
    assert upsell_of(Arm("f", "pastel", {"sku": "pastel", "price": 500})) == ("pastel", 500)
    assert upsell_of(Arm("f", "pastel", {"sku": "pastel", "price": True})) == ("pastel", None)
    assert upsell_of(Arm("f", "pastel", {"sku": "pastel", "price": -1})) == ("pastel", None)
    assert upsell_of(Arm("f", "control", None)) is None and upsell_of(None) is None
    assert upsell_of(Arm("f", "b", 2)) is None
    assert offer_price(pastel, 500).price == Money(500, "BRL")
    assert offer_price(pastel, 2000) is pastel and offer_price(pastel, None) is pastel
