"""The cart page's upsell: which arm of the upsell flag a visitor is in, and what it offers them.

The arm comes from the node-issued visitor id only (a forged or absent cookie: no arm, so the
default), and the offer from the arm's variant value, never from the form: a phone can accept
an offer, not name one (docs/flags.md, "On the box").
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.api.locale import PageLocale
from appliance.api.node import Node
from appliance.services.flags import Arm, offer_price, upsell_of
from appliance.store import orders as orders_sql
from appliance.store.errors import NotFound

OFFER_FIELD = "offer.accept"  # the cart's checkbox ('.' is in no sku: it is never a quantity)


def arm_of(node: Node, cookie: str | None) -> Arm | None:
    """The visitor's arm of the cart upsell flag (None: no signed visitor id, or no flags)."""
    return node.flags.arm(node.flags.settings.upsell_flag, node.visitors.verify(cookie))


async def offer_of(
    node: Node, arm: Arm | None, wanted: Mapping[str, int], locale: PageLocale
) -> dict[str, str] | None:
    """The item the arm offers at its price, if it is not in the cart and not sold out."""
    upsell = upsell_of(arm)
    if upsell is None or upsell[0] in wanted:
        return None
    sku, price = upsell
    try:
        item = await node.box.writer.read(lambda conn: orders_sql.load_item(conn, sku))
    except NotFound:  # the flag names an item this stall does not sell: no offer
        return None
    if item.stock == 0:
        return None
    item = offer_price(item, price)
    return {"sku": item.sku, "name": item.name, "price_text": locale.money(item.price)}
