"""The store's error tree."""

from appliance.errors import StateError


class StoreError(StateError):
    """The database cannot be opened, migrated or written; the message names the file."""


class NotFound(Exception):
    """A row the caller named does not exist (an order id, a sku)."""


class WriterClosed(StoreError):
    """The writer has been closed; no more transactions are accepted."""
