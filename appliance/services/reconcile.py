"""`stallbox reconcile --dry-run`: statements against the box's paid rail sales, nothing written.

Reads the sales from the state dir's database (read-only, safe beside a running node), the
statement files through appliance.statements, matches them with the pure
appliance.domain.reconcile, and words the outcome with what to do about each line. Recording
the outcome as signed ledger entries comes later.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path

from appliance.domain.credits import Credit
from appliance.domain.money import Money
from appliance.domain.reconcile import Outcome, Sale, reconcile
from appliance.payments.ids import rf_reference
from appliance.statements import ColumnMap, read_statement
from appliance.store.connection import DB_NAME, describe_error, open_sync
from appliance.store.errors import StoreError
from appliance.store.sales import PaidOnRail, paid_on_rails


def _database(sales_from: Path) -> Path:
    """A state dir's database, or the database file itself."""
    return sales_from / DB_NAME if sales_from.is_dir() else sales_from


def _open(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"{path}: no database (give a state dir or its {DB_NAME})")
    return open_sync(path, readonly=True)


def sales_from_state(sales_from: Path) -> list[Sale]:
    """The paid rail sales of a state dir (or its database file), with their references."""
    path = _database(sales_from)
    with closing(_open(path)) as conn:
        try:
            rows = paid_on_rails(conn)
        except sqlite3.Error as exc:
            raise describe_error(path, exc) from None
    return sales_of(rows)


def sales_of(rows: Sequence[PaidOnRail]) -> list[Sale]:
    """The paid rail sales as the matcher takes them, with their references."""
    sales = []
    for row in rows:
        refs = (row.reference, rf_reference(row.reference)) if row.reference.isalnum() else ()
        at = datetime.fromisoformat(row.at)
        sales.append(Sale(row.order_id, refs, row.rail, Money(row.total, row.currency), at))
    return sales


def dry_run(sales_from: Path, files: Sequence[Path], column_map: ColumnMap | None) -> Outcome:
    """Reconcile the statement files against a state dir's sales; write nothing."""
    sales = sales_from_state(sales_from)
    credits: list[Credit] = []
    for path in files:
        credits.extend(read_statement(path, column_map).credits)
    return reconcile(sales, credits)


def _sale(sale: Sale) -> str:
    ref = sale.references[0] if sale.references else "-"
    return f"{sale.id} {sale.rail} {sale.amount} at {sale.at:%Y-%m-%d %H:%M}Z (ref {ref})"


def _credit(credit: Credit) -> str:
    when = f"{credit.booked:%Y-%m-%d}" if credit.day_only else f"{credit.booked:%Y-%m-%d %H:%M}Z"
    return f"{credit.amount} on {when} [{credit.source or credit.key}]"


def report(outcome: Outcome) -> list[str]:
    """The outcome as lines for a person, each unmatched or ambiguous item with what to do."""
    lines = [f"matched {len(outcome.matched)}: " + ", ".join(
        f"{m.sale.id} ({m.how})" for m in outcome.matched
    )]  # fmt: skip
    for sale in outcome.unmatched_sales:
        lines.append(f"UNMATCHED SALE {_sale(sale)}: no credit yet; if the statement covers its "
                     "time, the payment screen may have been fake: check with the bank")  # fmt: skip
    for credit in outcome.unmatched_credits:
        lines.append(f"unmatched credit {_credit(credit)}: pays no sale rung up; find who sent it")
    for credit, sale in outcome.wrong_amount:
        lines.append(f"WRONG AMOUNT {_credit(credit)} names {_sale(sale)}: underpaid or overpaid")
    for tie in outcome.ambiguous:
        lines.append(f"AMBIGUOUS ({tie.reason}): sales {', '.join(s.id for s in tie.sales)}; "
                     f"credits {'; '.join(_credit(c) for c in tie.credits)}: settle by hand")  # fmt: skip
    for reversal, taken in outcome.reversed:
        what = _credit(taken) if taken else "no credit found to take back"
        lines.append(f"reversal {_credit(reversal)}: takes back {what}")
    for credit in outcome.conflicts:
        lines.append(f"CONFLICT {_credit(credit)}: one bank id with two amounts; not used")
    return lines
