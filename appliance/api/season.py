"""The day-2 operations' routes in one list: the daily close, restock, revocation."""

from __future__ import annotations

from starlette.routing import BaseRoute

from appliance.api import close, restock, tokens


def routes() -> list[BaseRoute]:
    """Every route of the season's operations (operator plane, token required)."""
    return [*close.routes(), *restock.routes(), *tokens.routes()]
