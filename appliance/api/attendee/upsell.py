"""The cart page's upsell: which arm of the upsell flag a visitor is in, and what it offers them.

The arm comes from the node-issued visitor id only (a forged or absent cookie: no arm, so the
default), and the offer from the arm's variant value, never from the form: a phone can accept
an offer, not name one (docs/flags.md, "On the box"). The offer is read from the cart's own
snapshot of the catalogue and its words are kept per language, item and price (Node.offer_texts),
so an arm that offers costs its cart page little (bench/flags.py: cart_rps_experiment).
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.api.locale import PageLocale
from appliance.api.node import Node
from appliance.domain.catalog import Item
from appliance.services.flags import Arm, offer_price, upsell_of

OFFER_FIELD = "offer.accept"  # the cart's checkbox ('.' is in no sku: it is never a quantity)
MAX_TEXTS = 256  # offer texts kept (language x item x price); cleared when full


def arm_of(node: Node, cookie: str | None) -> Arm | None:
    """The visitor's arm of the cart upsell flag (None: no signed visitor id, or no flags)."""
    return node.flags.arm(node.flags.settings.upsell_flag, node.visitors.verify(cookie))


def offer_of(
    node: Node, arm: Arm | None, items: Mapping[str, Item], wanted: Mapping[str, int],
    locale: PageLocale,
) -> dict[str, str] | None:  # fmt: skip
    """The item the arm offers at its price, if the stall sells it, in stock and not in the cart."""
    upsell = upsell_of(arm)
    if upsell is None or upsell[0] in wanted:
        return None
    item = items.get(upsell[0])
    if item is None or item.stock == 0:  # an item this stall does not sell, or sold out
        return None
    item = offer_price(item, upsell[1])
    key = (locale.tag, item.sku, item.name, item.price.minor)
    shown = node.offer_texts.get(key)
    if shown is None:
        if len(node.offer_texts) >= MAX_TEXTS:
            node.offer_texts.clear()
        price = locale.money(item.price)
        shown = node.offer_texts[key] = {"sku": item.sku, "name": item.name, "price_text": price}
    return shown
