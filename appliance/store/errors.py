"""The store's error tree."""

from appliance.errors import StateError


class StoreError(StateError):
    """The database cannot be opened, migrated or written; the message names the file."""


class NotFound(Exception):
    """A row the caller named does not exist (an order id, a sku)."""


class NotBuilt(NotFound):
    """A drop claim's order not built yet, asked for on the read connection (build it, then read)."""


class WriterClosed(StoreError):
    """The writer has been closed; no more transactions are accepted."""


class DiskFull(StoreError):
    """The disk that holds the database is full: writes are refused until space is freed.

    A state, not a crash: the node keeps serving reads, answers writes with 507, and writes
    resume by themselves once there is room again.
    """


class RelayFull(StoreError):
    """This box holds as many relayed batches as it will; the origin should try again later.

    `limit` names the cap that was reached (a 507 names it in its `field`).
    """

    def __init__(self, message: str, limit: str = "relay") -> None:
        super().__init__(message)
        self.limit = limit
