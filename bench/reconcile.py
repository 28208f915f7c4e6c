"""Reconciliation benchmark: reading a big camt.053 against matching it to as many sales.

Generates a camt.053 statement of N transaction lines (default 100,000: single entries with an
RF reference, with the reference in free text, with none at all (NOTPROVIDED: scored by amount
and time), and batched entries of five) and N sales, some unpaid; times parsing the file
(read_statement) and reconciling (domain.reconcile), best of --repeat runs each. Ends with one
JSON line; goal: reconcile_s <= 1.5 x parse_s. Exits 1 if it could not measure (the file did
not parse to N lines, or nothing matched).

Usage: python bench/reconcile.py [--lines N] [--repeat R] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path[:1] = [str(Path(__file__).resolve().parents[1])]  # the repo, not bench/, first

from appliance.domain.money import Money  # noqa: E402
from appliance.domain.reconcile import Sale, reconcile  # noqa: E402
from appliance.payments.ids import rf_reference  # noqa: E402
from appliance.payments.reference import order_reference  # noqa: E402
from appliance.statements import read_statement  # noqa: E402
from bench.honest import print_machine  # noqa: E402

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
START = datetime(2026, 11, 1, tzinfo=UTC)
BATCH = 5


def make_sales(n: int, rnd: random.Random) -> list[Sale]:
    """N sales over 30 days with random amounts, in order."""
    sales = []
    for number in range(1, n + 1):
        ref = order_reference(number)
        at = START + timedelta(seconds=int(number * 30 * 86400 / n))
        amount = Money(rnd.randrange(100, 20000, 50), "EUR")
        sales.append(Sale(f"S{number}", (ref, rf_reference(ref)), "sepa", amount, at))
    return sales


def tx(sale: Sale, kind: int, rnd: random.Random) -> str:
    """One TxDtls paying `sale`: structured reference, free text, or nothing at all."""
    amount = f'<Amt Ccy="EUR">{sale.amount.decimal()}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
    if kind < 6:
        rmt = f"<RmtInf><Strd><CdtrRefInf><Ref>{sale.references[1]}</Ref></CdtrRefInf></Strd></RmtInf>"
        refs = f"<Refs><EndToEndId>E2E{rnd.getrandbits(48):012X}</EndToEndId></Refs>"
    elif kind < 9:
        rmt = f"<RmtInf><Ustrd>Stall order {sale.references[0]} thanks</Ustrd></RmtInf>"
        refs = "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
    else:
        rmt, refs = "", "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
    return f"<TxDtls>{refs}{amount}{rmt}</TxDtls>"


def entry(n: int, txs: list[str], total: int, booked: datetime) -> str:
    """One booked credit entry holding `txs`."""
    when = f"<DtTm>{booked.isoformat()}</DtTm>" if n % 2 else f"<Dt>{booked.date()}</Dt>"
    return (
        f'<Ntry><NtryRef>{n}</NtryRef><Amt Ccy="EUR">{Money(total, "EUR").decimal()}</Amt>'
        f"<CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt>{when}</BookgDt>"
        f"<AcctSvcrRef>BENCH{n:09d}</AcctSvcrRef><NtryDtls>{''.join(txs)}</NtryDtls></Ntry>"
    )


def make_statement(sales: list[Sale], lines: int, rnd: random.Random) -> str:
    """A camt.053 with `lines` transactions paying 98% of the sales (then credits for none)."""
    paid = [s for s in sales if rnd.random() < 0.98][:lines]
    stray = [
        Sale(
            f"X{i}",
            (f"NOPE{i}", f"NOPE{i}"),
            "sepa",
            Money(rnd.randrange(100, 20000, 50), "EUR"),
            START,
        )
        for i in range(lines - len(paid))
    ]
    entries, i, n = [], 0, 0
    pool = paid + stray
    while i < len(pool):
        n += 1
        size = BATCH if n % 10 == 0 else 1
        group = pool[i : i + size]
        i += size
        booked = group[0].at + timedelta(minutes=rnd.randrange(0, 5))
        txs = [tx(s, rnd.randrange(10), rnd) for s in group]
        entries.append(entry(n, txs, sum(s.amount.minor for s in group), booked))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS}"><BkToCstmrStmt><Stmt>'
        f"<Id>BENCH</Id>{''.join(entries)}</Stmt></BkToCstmrStmt></Document>"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line last; 1 if it could not measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the statement")
    args = parser.parse_args(argv)
    print_machine("bench/reconcile.py")
    rnd = random.Random(20261120)
    sales = make_sales(args.lines, rnd)
    text = make_statement(sales, args.lines, rnd)
    with tempfile.TemporaryDirectory(prefix="stallbox-bench-", dir=args.dir) as tmp:
        path = Path(tmp) / "bench.camt053.xml"
        path.write_text(text, encoding="utf-8")
        size = path.stat().st_size
        parse_times, reconcile_times = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            statement = read_statement(path, max_bytes=size)
            parse_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            outcome = reconcile(sales, statement.credits)
            reconcile_times.append(time.perf_counter() - t0)
    if len(statement.credits) != args.lines or not outcome.matched:
        print(
            f"cannot measure: {len(statement.credits)} lines parsed, {len(outcome.matched)} matched"
        )
        return 1
    parse_s, reconcile_s = min(parse_times), min(reconcile_times)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {platform.machine()}, {python}; statement {size / 1e6:.1f} MB")
    by = {"reference": 0, "scored": 0}
    for m in outcome.matched:
        by[m.how] += 1
    print(
        f"{args.lines} lines vs {len(sales)} sales: {by['reference']} by reference, "
        f"{by['scored']} scored, {len(outcome.ambiguous)} ambiguities, "
        f"{len(outcome.unmatched_sales)} sales and {len(outcome.unmatched_credits)} credits unmatched"
    )
    ratio = reconcile_s / parse_s
    print(
        f"parse {parse_s:.2f} s, reconcile {reconcile_s:.2f} s ({ratio:.2f}x parse, goal <= 1.5x)"
    )
    print(json.dumps({
        "bench": "reconcile",
        "lines": args.lines,
        "parse_s": round(parse_s, 3),
        "reconcile_s": round(reconcile_s, 3),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
