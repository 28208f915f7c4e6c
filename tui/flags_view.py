"""How the console words the box's edge flags: a canary decision's notice, the Numbers lines.

The node's judge switches a failing canary arm off by itself (docs/flags.md); the vendor sees
that it did, and why, as a notice when it happens and on the Numbers screen after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.api.flags_schemas import FlagsOut


def flag_notice(data: Mapping[str, Any]) -> str:
    """One SSE `flag` event as the notice the console shows."""
    verdict = "switched OFF" if data.get("verdict") == "off" else "passed"
    return f"Canary {data.get('flag')}/{data.get('variant')} {verdict}: {data.get('reason')}"


def flag_lines(flags: FlagsOut | None) -> list[str]:
    """The Numbers screen's lines on the canaries: each arm's state, figures and reason."""
    if flags is None or flags.bundle is None:
        return []
    lines = ["Canaries (edge flags):"]
    for arm in flags.arms:
        p95 = "—" if arm.latency_p95_ms is None else f"{arm.latency_p95_ms:.0f} ms"
        figures = f"{arm.paid}/{arm.views} paid, p95 {p95}"
        lines.append(f"  {arm.flag}/{arm.variant} {arm.state.upper()} · {figures}")
        if arm.reason:
            lines.append(f"    {arm.reason}")
    if not flags.arms:
        lines.append("  no experiment running")
    return lines
