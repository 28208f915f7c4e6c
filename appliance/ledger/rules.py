"""What each receipt type adds to the chain rules: one table, one row per type.

docs/receipt-format.md numbers the rules of a chain; rules 1 to 9 hold for every line and live in
`appliance.ledger.chain`. Rules 10 to 13 depend on the type (its ref and total, what a void, a
close or a rekey must match, what its items hold), and are rows of `RULES` here, so a new type
(payment evidence, passes) is one new row plus its functions. The state a chain carries from
line to line (`ChainState`) lives here too, as the rows read and update it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import StallboxError
from appliance.ledger.errors import ChainBroken
from appliance.ledger.identity import key_id, parse_public_key, public_key_text
from appliance.ledger.receipt import JsonValue, Receipt, ReceiptType


@dataclass(slots=True)
class Period:
    """The sales and voids since the last close: what the next close receipt must state."""

    after: int  # seq of the last close, -1 before the first one
    sales: int = 0
    gross: int = 0
    voids: int = 0
    voided: int = 0


@dataclass(slots=True)
class ChainState:
    """What the rules need to know of the chain so far; `check_receipt` advances it."""

    next_seq: int
    prev_hash: bytes
    keys: Mapping[str, Ed25519PublicKey]  # the device's public keys by key id
    window_start: int = 0  # the first seq checked here: earlier sales are not known
    device: str | None = None
    currency: str | None = None
    epoch: int | None = None
    key: str | None = None  # key id of the current epoch
    rekeyed: bool = False  # the last line was a rekey: the next one starts a new epoch
    next_key: str | None = None  # the key id the rekey named, when its items were at hand
    retired: set[str] = field(default_factory=set)  # key ids of earlier epochs
    sales: dict[int, Receipt] = field(default_factory=dict)  # sales still standing, by seq
    period: Period | None = None  # None until the last close is known (a window from a head)
    evidence: dict[int, str] = field(default_factory=dict)  # sale seq -> "b" or "u" recorded

    @classmethod
    def resume(
        cls,
        next_seq: int,
        prev_hash: bytes,
        keys: Mapping[str, Ed25519PublicKey],
        device: str | None = None,
    ) -> ChainState:
        """The state at a head: from genesis everything is known, from a later head less."""
        period = Period(-1) if next_seq == 0 else None
        return cls(next_seq, prev_hash, keys, next_seq, device, period=period)

    def advance(self, receipt: Receipt) -> None:
        """Move past `receipt`, which passed every rule (the type's own row updates the rest)."""
        if self.rekeyed and self.key is not None:
            self.retired.add(self.key)
        self.next_seq, self.prev_hash = receipt.seq + 1, receipt.hash
        self.device, self.currency = receipt.device_id, receipt.currency
        self.epoch, self.key = receipt.epoch, receipt.key_id
        self.rekeyed, self.next_key = False, None


class Ref(Enum):
    """What a type's `ref` field holds."""

    EMPTY = "empty"
    SEQ = "the seq of an earlier receipt"
    ANY = "any ref the grammar allows"
    EVIDENCE = "b or u, then the seq of an earlier sale"


LineCheck = Callable[[Receipt, ChainState], None]
ItemsCheck = Callable[[Receipt, JsonValue, ChainState], None]
Apply = Callable[[Receipt, JsonValue | None, ChainState], None]


def _no_line_rule(receipt: Receipt, state: ChainState) -> None:
    """A type with no rule of its own on the line."""


def _no_items_rule(receipt: Receipt, items: JsonValue, state: ChainState) -> None:
    """A type whose items are only hashed."""


def _no_update(receipt: Receipt, items: JsonValue | None, state: ChainState) -> None:
    """A type that changes nothing the rules remember."""


@dataclass(frozen=True, slots=True)
class TypeRules:
    """One row of the table: what a receipt type adds to the rules of every line."""

    ref: Ref
    money: bool  # False: the total is 0
    line: LineCheck = _no_line_rule  # rules 11 and 12
    items: ItemsCheck = _no_items_rule  # rule 13, after the items hash matched
    apply: Apply = _no_update  # what the chain remembers of this receipt

    def check(self, receipt: Receipt, state: ChainState) -> None:
        """Rule 10 (ref and total of the type), then the type's own line rules."""
        kind = receipt.kind.value
        if self.ref is Ref.EMPTY and receipt.ref:
            raise ChainBroken(
                receipt.seq, f"ref {receipt.ref!r} on a {kind}, where it is empty", 10
            )
        if not self.money and receipt.total != 0:
            raise ChainBroken(receipt.seq, f"total {receipt.total} on a {kind}, where it is 0", 10)
        self.line(receipt, state)

    def check_items(self, receipt: Receipt, items: JsonValue, state: ChainState) -> None:
        """Rule 13 for this type: what its items must hold."""
        self.items(receipt, items, state)


def items_total(items: JsonValue) -> int | None:
    """Sum qty x unit over sale line items; None when they are not a list of such objects."""
    if not isinstance(items, Sequence):
        return None
    total = 0
    try:
        for item in items:
            total += int(item["qty"]) * int(item["unit"])
    except (TypeError, KeyError, ValueError):
        return None
    return total


def _object(receipt: Receipt, items: JsonValue, keys: tuple[str, ...]) -> Mapping[str, Any]:
    """The items as an object with exactly `keys`, or ChainBroken (rule 13)."""
    if not isinstance(items, Mapping) or set(items) != set(keys):
        want = ", ".join(keys)
        raise ChainBroken(receipt.seq, f"{receipt.kind.value} items must be {{{want}}}", 13)
    return items


def _items_add_up(receipt: Receipt, items: JsonValue, state: ChainState) -> None:
    total = items_total(items)
    if total != receipt.total:
        raise ChainBroken(
            receipt.seq, f"total {receipt.total} but line items add up to {total}", 13
        )


def _start_items(receipt: Receipt, items: JsonValue, state: ChainState) -> None:
    """The start receipt binds the first key: its id is the device id, its bytes the key given."""
    found = _object(receipt, items, ("device", "pubkey"))
    if found["device"] != receipt.device_id:
        message = f"start items name device {found['device']!r}, the line {receipt.device_id}"
        raise ChainBroken(receipt.seq, message, 13)
    given = state.keys.get(receipt.device_id)
    if given is None or found["pubkey"] != public_key_text(given):
        message = "start items' pubkey is not the key whose id is the device id"
        raise ChainBroken(receipt.seq, message, 13)


def _sale(receipt: Receipt, items: JsonValue | None, state: ChainState) -> None:
    state.sales[receipt.seq] = receipt
    if state.period is not None:
        state.period.sales += 1
        state.period.gross += receipt.total


def _void_line(receipt: Receipt, state: ChainState) -> None:
    """Rule 11: a void names an earlier sale still standing, with its total and items hash."""
    seq, voided = receipt.seq, int(receipt.ref)
    if voided >= seq:
        raise ChainBroken(seq, f"voids seq {voided}, which is not earlier", 11)
    if voided < state.window_start:
        return  # before the part of the chain we were given: cannot be checked here
    sale = state.sales.get(voided)
    if sale is None:
        raise ChainBroken(seq, f"voids seq {voided}, which is not a sale still standing", 11)
    if sale.total != receipt.total:
        raise ChainBroken(seq, f"void total differs from the total of sale {voided}", 11)
    if sale.items_hash != receipt.items_hash:
        raise ChainBroken(seq, f"void items hash differs from that of sale {voided}", 11)


def _void(receipt: Receipt, items: JsonValue | None, state: ChainState) -> None:
    state.sales.pop(int(receipt.ref), None)
    if state.period is not None:
        state.period.voids += 1
        state.period.voided += receipt.total


CLOSE_KEYS = ("from_seq", "to_seq", "sales", "gross", "voids", "voided")


def _close_line(receipt: Receipt, state: ChainState) -> None:
    """Rule 12: a close's total is the gross of the sales since the previous close."""
    period = state.period
    if period is not None and receipt.total != period.gross:
        message = f"close total {receipt.total}, but the sales since the last close add up to"
        raise ChainBroken(receipt.seq, f"{message} {period.gross}", 12)


def _close_items(receipt: Receipt, items: JsonValue, state: ChainState) -> None:
    """A close's items state its range and the counts and sums of what lies in it."""
    found = _object(receipt, items, CLOSE_KEYS)
    want: dict[str, object] = {"to_seq": receipt.seq - 1, "gross": receipt.total}
    if state.period is not None:
        p = state.period
        want |= {"from_seq": p.after + 1, "sales": p.sales, "voids": p.voids, "voided": p.voided}
    for name, value in want.items():
        if found[name] != value:
            message = f"close items' {name} is {found[name]!r}, the chain says {value}"
            raise ChainBroken(receipt.seq, message, 13)


def _close(receipt: Receipt, items: JsonValue | None, state: ChainState) -> None:
    state.period = Period(receipt.seq)


def _rekey_items(receipt: Receipt, items: JsonValue, state: ChainState) -> None:
    """A rekey names the next epoch and its new public key, never one used before."""
    found = _object(receipt, items, ("epoch", "pubkey"))
    if found["epoch"] != receipt.epoch + 1:
        message = f"rekey items name epoch {found['epoch']!r}, the next is {receipt.epoch + 1}"
        raise ChainBroken(receipt.seq, message, 13)
    try:
        new = key_id(parse_public_key(str(found["pubkey"])))
    except StallboxError:
        raise ChainBroken(receipt.seq, "rekey items' pubkey is not an Ed25519 key", 13) from None
    if new == receipt.key_id or new in state.retired:
        raise ChainBroken(receipt.seq, f"rekey to key {new}, a key of an earlier epoch", 13)


def _rekey(receipt: Receipt, items: JsonValue | None, state: ChainState) -> None:
    state.rekeyed = True
    if isinstance(items, Mapping):
        state.next_key = key_id(parse_public_key(str(items["pubkey"])))


EVIDENCE_KEYS = ("state", "source", "credit")
EVIDENCE_STATES = {"b": "bank", "u": "unmatched"}


def _evidence_line(receipt: Receipt, state: ChainState) -> None:
    """Rule 11: evidence names an earlier sale still standing; bank once, never unmatched after."""
    seq, letter, sale_seq = receipt.seq, receipt.ref[0], int(receipt.ref[1:])
    if letter == "u" and receipt.total != 0:
        raise ChainBroken(seq, f"total {receipt.total} on unmatched evidence, where it is 0", 10)
    if sale_seq >= seq:
        raise ChainBroken(seq, f"evidence for seq {sale_seq}, which is not earlier", 11)
    recorded = state.evidence.get(sale_seq)
    if recorded == "b":
        raise ChainBroken(seq, f"evidence for seq {sale_seq}, which already has bank evidence", 11)
    if recorded == letter:
        raise ChainBroken(seq, f"evidence for seq {sale_seq} repeats its state", 11)
    if sale_seq < state.window_start:
        return  # before the part of the chain we were given: cannot be checked here
    sale = state.sales.get(sale_seq)
    if sale is None:
        raise ChainBroken(seq, f"evidence for seq {sale_seq}, not a sale still standing", 11)
    if letter == "b" and sale.total != receipt.total:
        raise ChainBroken(seq, f"bank evidence total differs from the total of sale {sale_seq}", 11)


def _evidence_items(receipt: Receipt, items: JsonValue, state: ChainState) -> None:
    """Evidence items: the state its ref's letter names, where from, and the credit (bank only)."""
    found = _object(receipt, items, EVIDENCE_KEYS)
    want = EVIDENCE_STATES[receipt.ref[0]]
    if found["state"] != want:
        raise ChainBroken(
            receipt.seq, f"evidence items' state is {found['state']!r}, ref says {want}", 13
        )
    if not isinstance(found["source"], str) or not found["source"]:
        raise ChainBroken(
            receipt.seq, "evidence items' source must name a statement or provider", 13
        )
    credit = found["credit"]
    if not isinstance(credit, str) or bool(credit) != (want == "bank"):
        message = "evidence items' credit must name the bank's credit (bank) or be empty"
        raise ChainBroken(receipt.seq, message, 13)


def _evidence(receipt: Receipt, items: JsonValue | None, state: ChainState) -> None:
    state.evidence[int(receipt.ref[1:])] = receipt.ref[0]


RULES: Mapping[ReceiptType, TypeRules] = {
    ReceiptType.START: TypeRules(Ref.EMPTY, money=False, items=_start_items),
    ReceiptType.SALE: TypeRules(Ref.ANY, money=True, items=_items_add_up, apply=_sale),
    ReceiptType.VOID: TypeRules(
        Ref.SEQ, money=True, line=_void_line, items=_items_add_up, apply=_void
    ),
    ReceiptType.CLOSE: TypeRules(
        Ref.EMPTY, money=True, line=_close_line, items=_close_items, apply=_close
    ),
    ReceiptType.REKEY: TypeRules(Ref.EMPTY, money=False, items=_rekey_items, apply=_rekey),
    ReceiptType.FAIL: TypeRules(Ref.EMPTY, money=False),
    ReceiptType.EVIDENCE: TypeRules(
        Ref.EVIDENCE, money=True, line=_evidence_line, items=_evidence_items, apply=_evidence
    ),
}
