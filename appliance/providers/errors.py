"""The providers package's error tree: what can go wrong asking a payment provider.

`ProviderUnreachable` is a state (no link, a timeout, a 5xx): the node retries with backoff and
the offline policy goes on deciding. `ProviderRefused` (401/403: credentials) and `ProviderLied`
(an answer that breaks the API's own schema) are alarms for the vendor: retrying will not help
until someone acts, so they are retried slowly and shown.
"""

from __future__ import annotations

from appliance.errors import ConfigError, StallboxError


class ProviderError(StallboxError):
    """Asking the payment provider failed."""


class ProviderUnreachable(ProviderError):
    """No answer in time, a connection failure or a 5xx/429: try again later."""


class ProviderRefused(ProviderError):
    """The provider refused the node's credentials or scope (401/403) or the request (4xx)."""


class ProviderLied(ProviderError):
    """The provider's answer breaks the API's schema (a field missing or malformed)."""


class CredentialsError(ConfigError):
    """The provider credentials in the state dir are missing, unreadable or not private."""
