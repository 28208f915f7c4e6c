"""The wire types of GET /api/bank and POST /api/reconcile (appliance/api/operator/bank.py).

Apart from the handlers so the console (tui/client.py) can decode them without importing what
the handlers import (the store: the console talks HTTP to the node, DESIGN §2).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_STATEMENTS = 8
RECONCILE_STATEMENT_BYTES = 4 * 1024 * 1024  # POST /api/reconcile: statements, decoded, together


class BankProblem(msgspec.Struct, frozen=True):
    """A credit the provider listed that confirmed nothing, and why."""

    problem: str  # wrong_amount, unknown_txid, duplicate_e2eid, paid_twice
    e2eid: str
    txid: str
    amount: int
    currency: str
    at: str
    order: str | None
    detail: str


class RailEvidence(msgspec.Struct, frozen=True):
    """The standing sales of one rail by evidence state: counts and minor units."""

    sales: int
    bank: int
    unverified: int
    unmatched: int
    bank_minor: int
    unverified_minor: int
    unmatched_minor: int


class BankOut(msgspec.Struct, frozen=True):
    """The bank watch's state and the evidence of every rail's standing sales."""

    provider: str | None
    rail: str | None
    link: str  # off (no [provider]), idle, ok, unreachable, refused
    last_ok: str | None
    last_error: str
    confirmed: int
    problems: list[BankProblem]
    rails: dict[str, RailEvidence]


class StatementIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One statement file: its name (for messages) and its bytes, base64."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    content: Annotated[bytes, msgspec.Meta(min_length=1, max_length=RECONCILE_STATEMENT_BYTES)]


class ReconcileRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Statements to match against the box's sales; a CSV needs its column map (TOML text)."""

    statements: Annotated[list[StatementIn], msgspec.Meta(min_length=1, max_length=MAX_STATEMENTS)]
    column_map: Annotated[str, msgspec.Meta(max_length=16384)] | None = None


class EvidenceWritten(msgspec.Struct, frozen=True):
    """One evidence line the import signed."""

    order: str
    sale_seq: int
    state: str


class ReconcileOut(msgspec.Struct, frozen=True):
    """What the import matched and wrote, and the report `stallbox reconcile` prints."""

    matched: int
    unmatched_sales: list[str]
    unmatched_credits: int
    ambiguous: int
    wrong_amount: int
    written: list[EvidenceWritten]
    report: list[str]


TYPES: tuple[type[msgspec.Struct], ...] = (BankOut, ReconcileRequest, ReconcileOut)
