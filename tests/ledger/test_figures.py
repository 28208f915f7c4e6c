"""The stall's figures from receipt lines (appliance/ledger/figures.py): one definition of a sale
for the box's Numbers and the cloud's dashboard, and one of the conversion latency's median and
p90 (the box's /metrics histogram and the synced per-minute histograms give the same)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from appliance.ledger.figures import (
    BUCKETS,
    CONVERSION_BOUNDS_S,
    Latencies,
    merge,
    per_live_minute,
    quantile,
    sales_figures,
    share,
)
from appliance.ledger.identity import DeviceKey, public_key_text
from appliance.ledger.receipt import GENESIS_PREV, ReceiptType, build_receipt

T0 = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
PASTEL = [{"name": "Pastel", "qty": 1, "sku": "pastel", "unit": 950}]


def lines(rows: list[tuple[ReceiptType, int, Any, str]]) -> list[str]:
    key = DeviceKey.from_private(Ed25519PrivateKey.generate())
    start = {"device": key.key_id, "pubkey": public_key_text(key.public)}
    out, prev = [], GENESIS_PREV
    for seq, (kind, total, items, ref) in enumerate([(ReceiptType.START, 0, start, ""), *rows]):
        receipt = build_receipt(
            key, device_id=key.key_id, epoch=0, seq=seq, at=T0 + timedelta(seconds=50 * seq),
            kind=kind, currency="BRL", total=total, items=items, prev_hash=prev, ref=ref,
        )  # fmt: skip
        out.append(receipt.line)
        prev = receipt.hash
    return out


def bank(credit: str) -> dict[str, str]:
    return {"state": "bank", "source": "provider:psp", "credit": credit}


def test_sales_less_voids_and_bank_confirmed_standing_sales() -> None:
    unmatched = {"state": "unmatched", "source": "provider:psp", "credit": ""}
    rows = [
        (ReceiptType.SALE, 950, PASTEL, "A1"),  # 1: banked
        (ReceiptType.SALE, 950, PASTEL, "A2"),  # 2: banked, then voided: not counted
        (ReceiptType.SALE, 950, PASTEL, "A3"),  # 3: unmatched only
        (ReceiptType.EVIDENCE, 950, bank("id:E1"), "b1"),
        (ReceiptType.EVIDENCE, 950, bank("id:E2"), "b2"),
        (ReceiptType.EVIDENCE, 0, unmatched, "u3"),
        (ReceiptType.VOID, 950, PASTEL, "2"),
    ]
    got = sales_figures(lines(rows))
    assert (got.sales, got.revenue, got.voided, got.voided_revenue) == (2, 1900, 1, 950)
    assert got.bank_confirmed == 1 and got.currency == "BRL"
    assert got.by_minute == {"2026-11-26T18:00": 950, "2026-11-26T18:02": 950}  # 50 s, 150 s
    assert share(got.bank_confirmed, got.sales) == 0.5


def test_per_live_minute_waits_for_a_whole_minute() -> None:
    assert per_live_minute(1900, 0.5) is None
    assert per_live_minute(1900, 3) == 633.33
    assert share(1, 0) is None


def test_latencies_fall_in_inclusive_buckets_and_merge() -> None:
    h = Latencies()
    for seconds in (0.2, 15.0, 15.001, 3600.0, 7200.0, -1.0):
        h = h.observe(seconds)
    # le is inclusive, as Prometheus' (15 s is in the first bucket); a negative one counts as 0
    assert h.buckets == (3, 1, 0, 0, 0, 0, 0, 1, 1) and h.count == 6
    assert h.sum_ms == 200 + 15000 + 15001 + 3600000 + 7200000
    assert Latencies.parse(h.text(), h.sum_ms) == h
    for bad in ("1,2", "1,2,3,4,5,6,7,8,-9", "a,b"):
        with pytest.raises(ValueError):
            Latencies.parse(bad, 0)
    both = merge([h, Latencies().observe(20.0)])
    assert both.buckets == (3, 2, 0, 0, 0, 0, 0, 1, 1) and both.sum_ms == h.sum_ms + 20000
    assert merge([]) == Latencies() and Latencies().quantile(0.5) is None
    assert both.cumulative()[-1] == (float("inf"), 7) and len(both.cumulative()) == BUCKETS


def test_quantiles_interpolate_as_promql_histogram_quantile() -> None:
    # https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile:
    # linear within the bucket the rank falls in, from the bound below (0 for the first);
    # in the +Inf bucket, the highest finite bound
    h = merge([Latencies().observe(s) for s in (1, 2, 20, 25, 26, 28, 40, 50, 55, 58)])
    assert h.quantile(0.5) == pytest.approx(26.25)  # rank 5 in (15, 30]: 15 + 15 * 3/4
    assert h.quantile(0.9) == pytest.approx(52.5)  # rank 9 in (30, 60]: 30 + 30 * 3/4
    assert Latencies().observe(5000).quantile(0.5) == 3600
    assert quantile([], 0.5) is None


def test_the_box_metrics_and_its_synced_minutes_give_the_same_median_and_p90() -> None:
    """What the console shows (the node's /metrics histogram, parsed as tui/client.py does) is
    what the dashboard computes from the same latencies folded into funnel minutes."""
    registry = CollectorRegistry()
    shown = Histogram("c_seconds", "c", buckets=CONVERSION_BOUNDS_S, registry=registry)
    latencies = [3.5, 12, 14, 31, 44, 75, 100, 130, 640, 1300, 4000, 9.25]
    minutes = [Latencies(), Latencies()]
    for i, seconds in enumerate(latencies):
        shown.observe(seconds)
        minutes[i % 2] = minutes[i % 2].observe(seconds)  # two minutes' rows
    text = generate_latest(registry).decode()
    buckets = [
        (float(line.split('le="')[1].split('"')[0]), float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("c_seconds_bucket{")
    ]
    synced = merge(minutes)
    assert buckets == [(b, float(n)) for b, n in synced.cumulative()]
    for q in (0.5, 0.9):
        assert synced.quantile(q) == quantile(buckets, q)
    assert synced.sum_ms / 1000 == pytest.approx(sum(latencies))
