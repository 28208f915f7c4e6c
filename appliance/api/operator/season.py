"""The day-2 operations' routes in one list: the daily close, restock, revocation, clock."""

from __future__ import annotations

from starlette.routing import BaseRoute

from appliance.api.operator import clock, close, restock, tokens


def routes() -> list[BaseRoute]:
    """Every route of the season's operations (operator plane, token required)."""
    return [*close.routes(), *restock.routes(), *tokens.routes(), *clock.routes()]
