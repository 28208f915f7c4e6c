"""The stall's figures as pure functions of its receipt lines and funnel minutes.

One definition of each figure wherever it is shown: the box's console Numbers (through
/api/stats, appliance/store/stats.py) and the creator's dashboard at the cloud
(sync/cloud/dashboard.py), which has only what sync carried — the signed receipt lines with
their items, and the funnel minutes. A sale is a `sale` line not voided: sales = sale lines -
void lines, revenue = their totals - the voids' totals. A sale is bank-confirmed when an
`evidence` line with a `b` ref names it (docs/receipt-format.md "Payment evidence"). Conversion
latency (first menu view -> paid) is a histogram with fixed bounds, kept per funnel minute and
synced with it, so its median and p90 are the same wherever the same minutes are merged.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from appliance.ledger.receipt import ReceiptType, parse_receipt


@dataclass(frozen=True, slots=True)
class SalesFigures:
    """What a box's receipts say: sales, revenue, voids, bank evidence, revenue by minute."""

    sales: int = 0
    revenue: int = 0  # minor units of `currency`
    voided: int = 0
    voided_revenue: int = 0
    bank_confirmed: int = 0  # standing sales with a bank (b) evidence line
    currency: str = ""
    by_minute: dict[str, int] = field(default_factory=dict)  # "YYYY-MM-DDTHH:MM" -> revenue


def sales_figures(lines: Iterable[str]) -> SalesFigures:
    """Count sales, revenue, voids and bank-confirmed sales from receipt lines (any order)."""
    sale_total: dict[int, int] = {}
    sale_minute: dict[int, str] = {}
    voided: dict[int, int] = {}
    banked: set[int] = set()
    currency = ""
    for line in lines:
        receipt = parse_receipt(line)
        if receipt.kind is ReceiptType.SALE:
            sale_total[receipt.seq] = receipt.total
            sale_minute[receipt.seq] = receipt.time.strftime("%Y-%m-%dT%H:%M")
            currency = receipt.currency
        elif receipt.kind is ReceiptType.VOID and receipt.ref.isdigit():
            voided[int(receipt.ref)] = receipt.total
        elif receipt.kind is ReceiptType.EVIDENCE and receipt.ref.startswith("b"):
            banked.add(int(receipt.ref[1:]))
    by_minute: dict[str, int] = defaultdict(int)
    for seq, total in sale_total.items():
        if seq not in voided:
            by_minute[sale_minute[seq]] += total
    standing = set(sale_total) - set(voided)
    return SalesFigures(
        sales=len(sale_total) - len(voided),
        revenue=sum(sale_total.values()) - sum(voided.values()),
        voided=len(voided),
        voided_revenue=sum(voided.values()),
        bank_confirmed=len(standing & banked),
        currency=currency,
        by_minute=dict(sorted(by_minute.items())),
    )


def per_live_minute(revenue: int, minutes: float) -> float | None:
    """Revenue per live minute, to the cent of a minor unit; None before a whole minute."""
    return round(revenue / minutes, 2) if minutes >= 1 else None


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is no whole."""
    return part / whole if whole else None


# Conversion latency (first menu view -> paid): the upper bounds (seconds, inclusive, as
# Prometheus' `le`) of the histogram the box keeps in /metrics and per funnel minute, and that
# sync carries; one bucket more counts what is above every bound. Changing them changes the
# funnel message (docs/sync-protocol.md): add a field, never reuse this one.
CONVERSION_BOUNDS_S: tuple[float, ...] = (15, 30, 60, 120, 300, 600, 1200, 3600)
BUCKETS = len(CONVERSION_BOUNDS_S) + 1


@dataclass(frozen=True, slots=True)
class Latencies:
    """Conversion latencies as a histogram: counts per bucket (CONVERSION_BOUNDS_S, then above
    them) and the sum of the latencies in whole milliseconds."""

    buckets: tuple[int, ...] = (0,) * BUCKETS
    sum_ms: int = 0

    @property
    def count(self) -> int:
        """How many latencies."""
        return sum(self.buckets)

    def observe(self, seconds: float) -> Latencies:
        """This histogram with one latency more (a negative one counts as 0)."""
        seconds = max(0.0, seconds)
        index = bisect_left(CONVERSION_BOUNDS_S, seconds)
        buckets = tuple(n + (i == index) for i, n in enumerate(self.buckets))
        return Latencies(buckets, self.sum_ms + round(seconds * 1000))

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, count at or below it) per bucket, the last bound +Inf (Prometheus')."""
        bounds = (*CONVERSION_BOUNDS_S, float("inf"))
        return list(zip(bounds, accumulate(self.buckets), strict=True))

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds (PromQL's histogram_quantile), None with no latency."""
        return quantile(self.cumulative(), q)

    def text(self) -> str:
        """The bucket counts as stored: comma-separated."""
        return ",".join(map(str, self.buckets))

    @classmethod
    def parse(cls, text: str, sum_ms: int) -> Latencies:
        """The histogram of stored bucket counts; ValueError if they are not BUCKETS counts."""
        buckets = tuple(int(n) for n in text.split(","))
        if len(buckets) != BUCKETS or min(buckets) < 0 or sum_ms < 0:
            raise ValueError(f"conversion latency: {text!r} is not {BUCKETS} counts")
        return cls(buckets, sum_ms)


def merge(histograms: Iterable[Latencies]) -> Latencies:
    """One histogram of all these latencies (e.g. a box's minutes, an event's boxes)."""
    buckets, sum_ms = [0] * BUCKETS, 0
    for histogram in histograms:
        buckets = [a + b for a, b in zip(buckets, histogram.buckets, strict=True)]
        sum_ms += histogram.sum_ms
    return Latencies(tuple(buckets), sum_ms)


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """A quantile from cumulative histogram buckets (upper bound, count), interpolated linearly
    within its bucket as PromQL's histogram_quantile does; the +Inf bucket gives the bound below."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * (
                (rank - lower_count) / span if span else 0
            )
        lower_bound, lower_count = bound, count
    return None
