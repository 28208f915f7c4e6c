"""Request and response types of the operator API, declared once with msgspec.

Requests are decoded strictly (forbid_unknown_fields: unknown fields refused, types checked) so a bad request is one
422 naming the field; the same types generate /api/openapi.json and docs/api.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# An RFC 3339 time in 2000-2099 that exists: months of 31, 30 and 28 days, 29 February of leap
# years; seconds and fractions optional. What it matches, datetime.fromisoformat reads.
_DAY = (
    r"20\d{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))|20(?:[02468][048]|[13579][26])-02-29"
)
STARTS_AT = (
    rf"^(?:{_DAY})T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{{1,6}})?)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$"
)
Sku = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Qty = Annotated[int, msgspec.Meta(ge=1, le=999)]
Note = Annotated[str, msgspec.Meta(max_length=200)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"


B64Message = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{44}$")]  # 33 bytes, base64url
# 32 bytes, canonical base64url: the last of 43 characters carries 2 zero padding bits
B64Mac = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$")]


class PairStart(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Begin a PAKE run with the code from `stallbox pair` (the code itself is never sent)."""

    name: Name = "console"


class PairStarted(msgspec.Struct, frozen=True):
    """The node's SPAKE2 message (side B) and the session to finish the run under."""

    session: str
    node_id: str  # bound into the run as the node's identity "stallbox node <node_id>"
    pake: str  # base64url of 33 bytes: b"B" + a 32-byte Ed25519 point


class PairFinish(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The console's SPAKE2 message (side A) and its key confirmation."""

    session: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    pake: B64Message
    confirm: B64Mac  # HMAC over the transcript and the fingerprint the console saw


class PairFinished(msgspec.Struct, frozen=True):
    """The node's key confirmation and the PairResponse sealed under the run's key."""

    confirm: str  # base64url HMAC-SHA256
    sealed: str  # base64url of a 12-byte nonce + ChaCha20-Poly1305 of the PairResponse JSON


class PairLocal(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Pair over the node's Unix socket: the peer's credentials are the proof, no code."""

    name: Name = "console"


class PairResponse(msgspec.Struct, frozen=True):
    token: str
    node_id: str
    fingerprint: str
    expires_in_s: int


class IdentityOut(msgspec.Struct, frozen=True):
    """Who the node is, proven: its key signs the console's challenge (IDENTITY_PREFIX + bytes)."""

    node_id: str
    name: str
    fingerprint: str
    public_key: str  # base64url of the raw 32-byte Ed25519 key
    signature: str  # base64url of the signature over the prefix and the challenge's bytes


class NewOrder(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    note: Note = ""
    lines: list[LineRequest] = []


class LineRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    sku: Sku
    qty: Qty = 1


class RemoveLine(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    sku: Sku
    qty: Qty | None = None


class TenderRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    tender: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    operator: Name | None = None
    override_reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class ConfirmRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    operator: Name | None = None
    override_reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    # cash orders: what the attendee handed over, minor units; the receipt page shows the change
    cash_received: Annotated[int, msgspec.Meta(ge=0, le=999_999_999_999)] | None = None


class NewDrop(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    sku: Sku
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    starts_at: Annotated[str, msgspec.Meta(pattern=STARTS_AT)]
    per_attendee: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    hold_s: Annotated[int, msgspec.Meta(ge=1, le=7200)] | None = None  # None: drops.hold_s


class DropOut(msgspec.Struct, frozen=True):
    id: int
    sku: str
    name: str
    price: int
    quantity: int
    left: int
    starts_at: str
    per_attendee: int
    hold_s: int
    url: str


class ItemOut(msgspec.Struct, frozen=True):
    sku: str
    name: str
    price: int  # minor units
    price_text: str
    currency: str
    stock: int | None


class LineOut(msgspec.Struct, frozen=True):
    sku: str
    name: str
    qty: int
    unit: int
    total: int


class OrderOut(msgspec.Struct, frozen=True):
    id: str
    number: int
    state: Literal["open", "awaiting_payment", "paid", "cancelled", "expired", "voided"]
    currency: str
    total: int
    total_text: str
    lines: list[LineOut]
    tender: str | None
    reference: str
    note: str
    created_at: str
    ready_at: str | None = None  # set when the stall marked the paid order ready for pick-up
    # a paid QR sale's bank evidence (docs/receipt-format.md "Payment evidence"); None otherwise
    evidence: Literal["unverified", "bank", "unmatched"] | None = None


class QrOut(msgspec.Struct, frozen=True):
    """A payment code's modules, built by the node for the console that asked (?qr=)."""

    level: Literal["L", "M", "Q", "H"]
    fit: int  # which of the asked sides holds it (0-based); -1: none did (the lowest level)
    size: int  # modules a side, the 4-module quiet zone included
    rows: list[str]  # each row as hex, dark = 1, first module the high bit, 0-padded to 4 bits


class TenderOut(msgspec.Struct, frozen=True):
    order: OrderOut
    reference: str
    payload: str | None
    qr: QrOut | None = None  # the code of `payload`, when the tender asked for it with ?qr=


class DecisionOut(msgspec.Struct, frozen=True):
    rail: str
    amount: int
    verdict: Literal["accept", "refuse", "override"]
    reason: str
    at: str
    operator: str | None


class ReceiptOut(msgspec.Struct, frozen=True):
    seq: int
    line: str


class ConfirmOut(msgspec.Struct, frozen=True):
    accepted: bool
    order: OrderOut
    decision: DecisionOut
    receipt: ReceiptOut | None


class StatsOut(msgspec.Struct, frozen=True):
    sales: int
    revenue: int
    currency: str
    live_minutes: float
    revenue_per_live_minute: float | None
    outbox_depth: int
    oldest_unsynced_s: float | None
    decisions: int
    edge_decisions: int
    edge_decision_rate: float | None
    storage: str = "ok"  # the state dir's disk: "ok", "low" (below storage.warn_free_mb), "full"
    free_bytes: int | None = None  # free on that disk; None from a node before this field
    voided: int = 0  # sales voided since; never counted in `sales` or `revenue`
    voided_revenue: int = 0  # what those voided sales had taken, minor units
    locale: str = ""  # the stall's locale (BCP 47, e.g. pt-BR): how the console writes amounts
    stall_url: str = ""  # the attendee plane at the address the operator reached: where phones go
    timezone: str = ""  # the stall's IANA time zone ([stall] timezone; "" = the box's own)


class SyncPause(msgspec.Struct, frozen=True):
    """Uploads held on purpose: `reason` "drop" (a rush), to `until` (ISO, the box's clock) at most.

    They resume by themselves then, or sooner once the drop sells out.
    """

    reason: str  # "drop": checkout traffic first while a drop that just opened has units
    until: str  # ISO time on the box's clock; it resumes by itself then, or when the drop sells out


class SyncOut(msgspec.Struct, frozen=True):
    """What the sync daemon last knew of the cloud, as it left it in the ledger database."""

    outbox_depth: int
    oldest_unsynced_s: float | None
    acked_seq: int
    cloud_seq: int | None
    tree_size: int
    checkpoint: str | None
    last_contact: str | None
    last_error: str | None
    stopped: str | None
    via: str | None
    incident: str | None = None  # the cloud's log rolled back (a new epoch began): when, why
    paused: SyncPause | None = None  # the daemon holds uploads on purpose; null while it sends


class Problem(msgspec.Struct, frozen=True):
    """Every 4xx/5xx body: what went wrong and, for bad input, which field."""

    error: str
    field: str | None = None


Minor = Annotated[int, msgspec.Meta(ge=0, le=999_999_999_999)]
ConsoleName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,59}$")]


class PrintRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Print a paid order's receipt; `received` is the cash handed over (for the change line)."""

    received: Minor | None = None
    reprint: bool = False


class PrintQueued(msgspec.Struct, frozen=True):
    queued: bool
    order_id: str


class PrinterOut(msgspec.Struct, frozen=True):
    """The receipt printer: configured, its last outcome, and counts since the node started."""

    configured: bool
    ok: bool
    error: str
    last_order: str  # the order of the last job tried
    printed: int
    failed: int
    width_mm: int


class DisplayCodeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    console: ConsoleName


class DisplayCodeOut(msgspec.Struct, frozen=True):
    """A one-time code a customer display types on /display to pair with `console`."""

    code: str
    console: str
    expires_s: int
    url: str


class DisplayLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    qty: Qty
    total: Minor


class DisplayCart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a console is ringing up, for its customer display; no lines: idle (the stall's name).
    `order_id`: the order this cart was opened as; the node then shows its payment on this
    display the moment a tender is chosen for it, without waiting for the console to ask."""

    console: ConsoleName
    lines: Annotated[list[DisplayLine], msgspec.Meta(max_length=100)] = []
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # opened


class DisplayOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An order a console's customer display shows: its payment (pay) or its outcome (paid).
    The node reads its lines, total, reference and payment code itself; `received` is the cash
    handed over, for the change."""

    console: ConsoleName
    phase: Literal["pay", "paid"]
    order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    received: Minor | None = None


class DisplayShown(msgspec.Struct, frozen=True):
    console: str
    phase: str
    displays: int  # displays following this console now


REQUESTS: tuple[type[msgspec.Struct], ...] = (
    PairStart, PairFinish, PairLocal, NewOrder, LineRequest, RemoveLine, TenderRequest, ConfirmRequest, NewDrop,
    PrintRequest, DisplayCodeRequest, DisplayCart, DisplayOrder, DisplayLine,
)  # fmt: skip
RESPONSES: tuple[type[msgspec.Struct], ...] = (
    PairStarted, PairFinished, PairResponse, IdentityOut, ItemOut, OrderOut, TenderOut, ConfirmOut,
    DecisionOut, ReceiptOut, StatsOut, SyncOut, DropOut, Problem, PrintQueued, PrinterOut,
    DisplayCodeOut, DisplayShown,
)  # fmt: skip
