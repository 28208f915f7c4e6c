"""The domain's error tree: every rule the domain refuses raises a subclass of DomainError."""


class DomainError(Exception):
    """A business rule refused the request; the message says which and why."""

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the request field the refusal is about, where there is one


class MoneyError(DomainError):
    """An amount or currency is invalid (unknown code, too many decimals, mixed currencies)."""


class CatalogError(DomainError):
    """A catalogue item is invalid or unknown."""


class OutOfStock(DomainError):
    """Not enough units left of an item."""


class TransitionRefused(DomainError):
    """An order cannot move from its current state to the one asked for."""


class OrderError(DomainError):
    """An order operation is invalid in its current state (empty order, bad quantity, ...)."""


class PolicyError(DomainError):
    """The offline acceptance policy is misconfigured or an override lacks its reason."""


class TenderRefused(PolicyError):
    """The offline policy refused a rail at tender: the payer is never invited to pay it."""


class TimeZoneError(DomainError):
    """A time was naive or not in UTC; the domain is handed aware UTC times only."""


class DropError(DomainError):
    """A drop claim was refused: not started, over the per-attendee limit, none left."""


class ReconcileError(DomainError):
    """Reconciliation was handed inconsistent input (duplicate sale ids, impossible rules)."""


class PassNotIssuable(OrderError):
    """A pass product this box cannot issue now (no valid delegation for its creator)."""
