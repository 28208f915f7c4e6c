"""What the menu and drop page flags change for a visitor: the menu's order and picks, the drop layout.

- `menu_flag` (default "menu-order"), a string flag: "popular" orders the menu by this box's own
  sales of the last hour and names its top picks as "Popular right now" (services/popular.py,
  cached for seconds); any other value, the catalogue's order.
- `drop_flag` (default "drop-page"), a string flag: "stock-first" shows the units available above
  the countdown (or the price); any other value, the countdown first (the page as it was).

A visitor's arm comes from the node-issued visitor id only; without one, or without a bundle, or
with a definition that does not verify, every visitor sees the default ("catalog",
"countdown-first"). Each arm's page views, latency and orders paid are measured like the cart
upsell's (services/flags.py), so the canary judge can switch an arm off. Pages are cached per
language and variant, so a menu in an experiment costs one dict lookup more (the arm is kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.api.node import Node
from appliance.services.flags import Arm
from appliance.services.popular import by_popularity

CATALOG = "catalog"
POPULAR = "popular"
COUNTDOWN_FIRST = "countdown-first"
STOCK_FIRST = "stock-first"


def menu_arm(node: Node, visitor: str | None) -> Arm | None:
    """The visitor's arm of the menu flag (None: no visitor id, no bundle, no such flag)."""
    return node.flags.arm(node.flags.settings.menu_flag, visitor, CATALOG)


def drop_arm(node: Node, visitor: str | None) -> Arm | None:
    """The visitor's arm of the drop page flag."""
    return node.flags.arm(node.flags.settings.drop_flag, visitor, COUNTDOWN_FIRST)


def menu_variant(arm: Arm | None) -> str:
    """ "popular" when the arm shows the popular picks, else "catalog"."""
    return POPULAR if arm is not None and arm.value == POPULAR else CATALOG


def drop_layout(arm: Arm | None) -> str:
    """ "stock-first" when the arm puts the stock first, else "countdown-first"."""
    return STOCK_FIRST if arm is not None and arm.value == STOCK_FIRST else COUNTDOWN_FIRST


def page_key(tag: str, variant: str, default: str) -> str:
    """A cached page's key: the language tag, with the variant when it is not the default."""
    return tag if variant == default else f"{tag}~{variant}"


async def popular_menu(
    node: Node, shown: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The menu's rows best sellers first, and the picks the page names as popular."""
    sold = await node.popular.sold()
    return by_popularity(shown, lambda row: str(row["sku"]), sold)
