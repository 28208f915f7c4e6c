"""What the node needs from a payment provider: the credits it received in a time window.

A connector answers with plain `ProviderCredit` records (appliance.domain.provider_match) and
raises only the errors of appliance.providers.errors, so the watcher (services/bank_watch.py)
needs to know nothing of HTTP, OAuth2 or a provider's JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from appliance.domain.provider_match import ProviderCredit


class Provider(Protocol):
    """A payment provider the node can ask for credits."""

    name: str

    async def credits(self, start: datetime, end: datetime) -> list[ProviderCredit]:
        """Every credit received from `start` to `end` (UTC), all pages."""
        ...

    async def aclose(self) -> None:
        """Release the connection pool."""
        ...
