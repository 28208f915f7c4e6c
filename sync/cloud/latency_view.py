"""The conversion latency (first menu view -> paid) on the creator's dashboard and in /metrics.

Both read the histograms the boxes synced with their funnel minutes and merge them
(appliance/ledger/figures.py), so the median and p90 shown are computed exactly as the box's
console computes its own from the same bounds: PromQL's histogram_quantile interpolation.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from appliance.ledger.figures import CONVERSION_BOUNDS_S, Latencies, merge


def seconds(value: float | None) -> str:
    """'7.5 s', '2.5 min', or '—'."""
    if value is None:
        return "—"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def latency_text(latencies: Latencies) -> str:
    """What the dashboard shows: median and p90, and how many paid orders they cover."""
    if not latencies.count:
        return "— (no paid order with a first view yet)"
    median, p90 = latencies.quantile(0.5), latencies.quantile(0.9)
    return f"median {seconds(median)} · p90 {seconds(p90)} (n={latencies.count})"


def _bound(index: int) -> str:
    if index == len(CONVERSION_BOUNDS_S):
        return f"> {seconds(CONVERSION_BOUNDS_S[-1])}"
    return f"≤ {seconds(CONVERSION_BOUNDS_S[index])}"


def latency_chart(latencies: Latencies, label: str) -> str:
    """An inline SVG bar chart of the histogram's buckets (a `<title>` per bar)."""
    if not latencies.count:
        return ""
    top, step = max(latencies.buckets), 300 / len(latencies.buckets)
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{100 - 90 * n / top:.1f}" width="{step - 2:.1f}"'
        f' height="{90 * n / top:.1f}" fill="#36a"><title>{html.escape(_bound(i))}: {n}</title>'
        "</rect>"
        for i, n in enumerate(latencies.buckets)
    )
    return (
        f'<svg viewBox="0 0 300 100" role="img" aria-label="{html.escape(label)}">'
        f"<title>{html.escape(label)}</title>{bars}</svg>"
    )


def prometheus_lines(by_device: Iterable[tuple[str, Latencies]]) -> list[str]:
    """`stallbox_cloud_conversion_seconds{device}` as a Prometheus histogram, one per device."""
    merged: dict[str, list[Latencies]] = {}
    for device, latencies in by_device:
        merged.setdefault(device, []).append(latencies)
    lines = [
        "# HELP stallbox_cloud_conversion_seconds From an attendee's first menu view to their"
        " order paid, as the boxes synced it.",
        "# TYPE stallbox_cloud_conversion_seconds histogram",
    ]
    for device, minutes in sorted(merged.items()):
        total = merge(minutes)
        for bound, count in total.cumulative():
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            lines.append(
                f'stallbox_cloud_conversion_seconds_bucket{{device="{device}",le="{le}"}} {count}'
            )
        lines.append(
            f'stallbox_cloud_conversion_seconds_sum{{device="{device}"}} {total.sum_ms / 1000}'
        )
        lines.append(f'stallbox_cloud_conversion_seconds_count{{device="{device}"}} {total.count}')
    return lines
