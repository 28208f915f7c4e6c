"""Messages workers post when their I/O is done, named for what happened (past tense)."""

from __future__ import annotations

from textual.message import Message

from appliance.api.bank_schemas import BankOut
from appliance.api.flags_schemas import FlagsOut
from appliance.api.schemas import (
    ConfirmOut,
    DropOut,
    IdentityOut,
    ItemOut,
    OrderOut,
    PairResponse,
    StatsOut,
    SyncOut,
    TenderOut,
)
from tui.client import MetricsView, NodeEvent


class NodeHeard(Message):
    """A node answered on the LAN (mDNS), or announced a change."""

    def __init__(self, name: str, url: str, node_id: str, fingerprint: str) -> None:
        super().__init__()
        self.name = name
        self.url = url
        self.node_id = node_id
        self.fingerprint = fingerprint


class NodeChecked(Message):
    """The node answered a periodic check."""

    def __init__(self, stats: StatsOut, sync: SyncOut | None, bank: BankOut | None = None) -> None:
        super().__init__()
        self.stats = stats
        self.sync = sync
        self.bank = bank


class IdentityChecked(Message):
    """The node proved which key it holds (None: too old to say)."""

    def __init__(self, url: str, identity: IdentityOut | None, error: str = "") -> None:
        super().__init__()
        self.url = url
        self.identity = identity
        self.error = error


class KeyMismatch(Message):
    """The TLS handshake at a pinned node's address proved another key; nothing was sent."""

    def __init__(self, url: str, pinned: str, shown: str, code: str = "") -> None:
        super().__init__()
        self.url = url
        self.pinned = pinned
        self.shown = shown
        self.code = code  # a pairing code not sent yet (the connect screen's retry)


class NodeLost(Message):
    """The node did not answer a check."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class TokenRefused(Message):
    """The node refused our token: pair again."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class EventReceived(Message):
    """A server-sent event arrived."""

    def __init__(self, event: NodeEvent) -> None:
        super().__init__()
        self.event = event


class Paired(Message):
    """A pairing code was exchanged for a token."""

    def __init__(self, url: str, answer: PairResponse) -> None:
        super().__init__()
        self.url = url
        self.answer = answer


class ActionFailed(Message):
    """A request was refused or could not be sent; `text` says why, in one line.

    `field`, when the refusal is about one form field: (that field's selector, its rule in words).
    """

    def __init__(self, text: str, field: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.text = text
        self.field = field


class CatalogLoaded(Message):
    """The catalogue arrived."""

    def __init__(self, items: list[ItemOut]) -> None:
        super().__init__()
        self.items = items


class OrderOpened(Message):
    """An order with the cart's lines was opened: the stall's tenders, those the policy accepts."""

    def __init__(self, order: OrderOut, tenders: list[str], offered: list[str]) -> None:
        super().__init__()
        self.order = order
        self.tenders = tenders
        self.offered = offered


class Confirmed(Message):
    """The node answered a confirmation (accepted or refused by the offline policy)."""

    def __init__(self, answer: ConfirmOut) -> None:
        super().__init__()
        self.answer = answer


class OrdersLoaded(Message):
    """The waiting and recently paid orders arrived."""

    def __init__(self, waiting: list[OrderOut], paid: list[OrderOut]) -> None:
        super().__init__()
        self.waiting = waiting
        self.paid = paid


class DropsLoaded(Message):
    """The drops arrived."""

    def __init__(self, drops: list[DropOut]) -> None:
        super().__init__()
        self.drops = drops


class Tendered(Message):
    """A tender was chosen; for a rail, the QR's lines were built off the event loop."""

    def __init__(self, answer: TenderOut, qr: tuple[str, ...], whole_screen: bool = False) -> None:
        super().__init__()
        self.answer = answer
        self.qr = qr
        self.whole_screen = whole_screen  # the code needs the whole screen (no frame around it)


class TenderRefused(Message):
    """The node's offline policy refused the tender (409): `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class ActionDone(Message):
    """A request succeeded; `text` tells the vendor what happened."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class NumbersFetched(Message):
    """/metrics and the paid orders arrived."""

    def __init__(
        self,
        metrics: MetricsView,
        paid: list[OrderOut],
        bank: BankOut | None = None,
        flags: FlagsOut | None = None,
    ) -> None:
        super().__init__()
        self.metrics = metrics
        self.paid = paid
        self.bank = bank
        self.flags = flags
