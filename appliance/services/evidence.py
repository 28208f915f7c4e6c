"""`stallbox reconcile FILE…`: the outcome of a statement import, signed onto the ledger.

The matching is appliance.domain.reconcile's (pure); this module decides which evidence lines
the outcome calls for (docs/receipt-format.md "Payment evidence") and appends them in one
transaction through the box's writer. It only ever adds what the chain lacks: a `bank` line for
a matched sale without one, an `unmatched` line for a sale the statements cover without a credit
and without any evidence yet; so importing a file again, or an overlapping one, writes nothing.

One writer per state dir: the caller holds the state dir's lock (a running node holds it, and
then the import is refused rather than opening a second writer on the ledger).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from appliance.domain.credits import Credit, credit_references, normalize
from appliance.domain.reconcile import Outcome, Sale, reconcile
from appliance.errors import StateError
from appliance.ledger.receipt import ReceiptType, parse_receipt
from appliance.services.box import Box
from appliance.services.reconcile import sales_from_state, sales_of
from appliance.services.state_dir import check_state, lock_state
from appliance.statements import ColumnMap, parse_statement
from appliance.statements.source import read_bounded
from appliance.store import evidence as evidence_sql
from appliance.store.connection import DB_NAME, open_sync
from appliance.store.sales import paid_on_rails

COVER_MARGIN = timedelta(hours=1)  # a statement covers a sale: a credit this much later


@dataclass(frozen=True, slots=True)
class StatementFile:
    """One imported file: where its evidence came from (`sha256:` + hex) and its credits."""

    source: str
    credits: tuple[Credit, ...]

    def covers(self, at: datetime, currency: str) -> bool:
        """True if its credits in `currency` run from at or before `at` to past `at` plus the margin.

        A statement file states no period of its own that every format carries, so its first
        and last bookings stand for it (a date-only booking spans its whole UTC day). Credits in
        another currency are another account's: they can neither pay a sale nor show it unpaid.
        """
        credits = [c for c in self.credits if c.amount.currency == currency]
        if not credits:
            return False
        first = min(c.booked for c in credits)
        day = timedelta(days=1)
        last = max(c.booked + (day if c.day_only else timedelta()) for c in credits)
        return first <= at and last >= at + COVER_MARGIN


@dataclass(frozen=True, slots=True)
class Entry:
    """One evidence line to append: the sale's order and seq, the state and its items."""

    order_id: str
    sale_seq: int
    state: str  # "bank" or "unmatched"
    total: int
    source: str
    credit: str

    @property
    def ref(self) -> str:
        """The line's ref: the state's letter and the sale's seq."""
        return f"{self.state[0]}{self.sale_seq}"

    @property
    def items(self) -> dict[str, str]:
        """The evidence items: state, source and credit (docs/receipt-format.md)."""
        return {"state": self.state, "source": self.source, "credit": self.credit}


def read_files(paths: Sequence[Path], column_map: ColumnMap | None) -> list[StatementFile]:
    """Read each statement file and name it by the SHA-256 of its bytes."""
    return [statement_file(str(path), read_bounded(path), column_map) for path in paths]


def statement_file(name: str, data: bytes, column_map: ColumnMap | None) -> StatementFile:
    """One statement's bytes, parsed and named by their SHA-256 (a file read, an upload)."""
    digest = hashlib.sha256(data).hexdigest()
    return StatementFile(f"sha256:{digest}", parse_statement(data, name, column_map).credits)


def covering(files: Sequence[StatementFile], sale: Sale) -> str | None:
    """The source of the first file that covers the sale's time, or None."""
    currency = sale.amount.currency
    return next((file.source for file in files if file.covers(sale.at, currency)), None)


def plan(
    outcome: Outcome,
    files: Sequence[StatementFile],
    seqs: Mapping[str, int],
    recorded: Mapping[int, set[str]],
) -> list[Entry]:
    """The evidence lines the outcome calls for that the chain does not hold yet, in sale order."""
    source_of: dict[str, str] = {}
    for file in files:
        for credit in file.credits:
            source_of.setdefault(credit.key, file.source)
    entries = []
    for match in outcome.matched:
        seq, source = seqs.get(match.sale.id), source_of.get(match.credit.key)
        if seq is None or source is None or "b" in recorded.get(seq, set()):
            continue
        entries.append(Entry(match.sale.id, seq, "bank", match.sale.amount.minor, source,
                             match.credit.key))  # fmt: skip
    for sale in outcome.unmatched_sales:
        seq, cover = seqs.get(sale.id), covering(files, sale)
        if seq is None or cover is None or recorded.get(seq):
            continue
        entries.append(Entry(sale.id, seq, "unmatched", 0, cover, ""))
    return sorted(entries, key=lambda e: e.sale_seq)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What an import did: the outcome, the lines it appended and the sales not covered."""

    outcome: Outcome
    written: tuple[Entry, ...]
    uncovered: tuple[Sale, ...]


def record(box: Box, paths: Sequence[Path], column_map: ColumnMap | None, at: datetime) -> Recorded:
    """Reconcile the files against the box's sales and append the evidence lines they call for."""
    files = read_files(paths, column_map)
    banked = box.writer.run_sync(evidence_sql.bank_credits)
    sales, credits = open_items(sales_from_state(box.state_dir), files, banked)
    outcome = reconcile(sales, credits)
    written = box.writer.run_sync(functools.partial(write_tx, box, outcome, files, sales, at))
    return recorded_of(outcome, files, written)


async def record_live(
    box: Box, statements: Sequence[tuple[str, bytes]], column_map: ColumnMap | None, at: datetime
) -> Recorded:
    """`record` inside a running node (POST /api/reconcile): the same matcher and lines, the
    parsing and matching in a worker thread, the lines through the node's one writer."""
    files = await asyncio.to_thread(
        lambda: [statement_file(name, data, column_map) for name, data in statements]
    )
    rows, banked = await box.writer.read(lambda c: (paid_on_rails(c), evidence_sql.bank_credits(c)))
    sales, credits = open_items(sales_of(rows), files, banked)
    outcome = await asyncio.to_thread(reconcile, sales, credits)
    written = await box.writer.run(functools.partial(write_tx, box, outcome, files, sales, at))
    return recorded_of(outcome, files, written)


def open_items(
    sales: Sequence[Sale], files: Sequence[StatementFile], banked: Mapping[str, str]
) -> tuple[list[Sale], list[Credit]]:
    """The sales and credits still to match: a sale with bank evidence is settled (its line is
    final), and so is its payment on a statement: the credit that evidence names, or one under the
    bank's own id that carries its end-to-end id or names the settled sale's reference. Left in,
    that payment would be free to pay another sale of its amount by time alone."""
    used = set(banked.values())
    e2eids = {normalize(key[3:]) for key in used if key.startswith("id:")}
    settled = {normalize(ref) for sale in sales if sale.id in banked for ref in sale.references}

    def still_open(credit: Credit) -> bool:
        if credit.key in used or normalize(credit.end_to_end_id) in e2eids:
            return False
        return not credit_references(credit) & settled

    credits = [c for f in files for c in f.credits if still_open(c)]
    return [s for s in sales if s.id not in banked], credits


def write_tx(
    box: Box,
    outcome: Outcome,
    files: Sequence[StatementFile],
    sales: Sequence[Sale],
    at: datetime,
    conn: sqlite3.Connection,
) -> list[Entry]:
    """Append the evidence lines the outcome calls for that the chain lacks (one transaction)."""
    seqs = evidence_sql.sale_seqs(conn, (s.id for s in sales))
    entries = plan(outcome, files, seqs, evidence_sql.recorded(conn))
    for entry in entries:
        box.append(conn, kind=ReceiptType.EVIDENCE, at=at, total=entry.total,
                   items=entry.items, ref=entry.ref, order_id=entry.order_id)  # fmt: skip
    return entries


def recorded_of(
    outcome: Outcome, files: Sequence[StatementFile], written: Sequence[Entry]
) -> Recorded:
    """What an import did, with the unmatched sales no file covers."""
    uncovered = tuple(s for s in outcome.unmatched_sales if covering(files, s) is None)
    return Recorded(outcome, tuple(written), uncovered)


def record_in_state(
    state_dir: Path, paths: Sequence[Path], column_map: ColumnMap | None, at: datetime
) -> Recorded:
    """Take the state dir's lock (StateInUse while a node runs), then `record`."""
    with lock_state(state_dir, "stallbox reconcile"):
        check_state(state_dir)  # a garbled key, a bad or foreign database: refused unwritten
        box = Box.open(state_dir, ledger_currency(state_dir))
        try:
            return record(box, paths, column_map, at)
        finally:
            box.close()


def ledger_currency(state_dir: Path) -> str:
    """The currency of the ledger's start receipt: every line of one chain is in it."""
    with closing(open_sync(state_dir / DB_NAME, readonly=True)) as conn:
        row = conn.execute("SELECT line FROM receipts WHERE seq = 0").fetchone()
    if row is None:
        raise StateError(f"{state_dir / DB_NAME}: no start receipt (run `stallbox init`)")
    return parse_receipt(str(row[0])).currency


def report_written(recorded: Recorded) -> list[str]:
    """What the import signed, and the unmatched sales it could not judge, for a person."""
    lines = [f"recorded {len(recorded.written)} evidence line(s)" + "".join(
        f"\n  {e.state} for order {e.order_id} (sale seq {e.sale_seq})" for e in recorded.written
    )]  # fmt: skip
    for sale in recorded.uncovered:
        when = f"{sale.at:%Y-%m-%d %H:%M}Z"
        lines.append(f"not judged: order {sale.id} at {when}: no statement here covers its "
                     "time; import the statement of that day")  # fmt: skip
    return lines


async def evidence_by_rail(box: Box) -> dict[str, dict[str, int]]:
    """Per rail, the standing QR sales by evidence state (count and minor units), as /api/bank shows."""
    return await box.writer.read(evidence_sql.evidence_by_rail)
