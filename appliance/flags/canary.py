"""The canary judge: per-arm figures in, keep or switch off out. Pure, so every box decides alike.

Modelled on Kayenta/Argo Rollouts' analysis, with their known pain fixed: a canary with no data
by its deadline fails (argo-rollouts #1466 passed it). Three ways to fail, checked in order:

1. latency — the canary arm's page latency p95 is over the objective (once it has
   `min_latency_samples`): a slow arm costs sales now, so no statistics are waited for;
2. conversion — the canary converts (views → paid) worse than control by more than `margin`,
   and a one-sided two-proportion z-test says so at `alpha` (non-inferiority test, H0: canary ≥
   control - margin);
3. no data — the deadline passed and either arm has fewer than `min_views` views.

Otherwise the verdict is `continue` before the deadline and `pass` after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist


class Verdict(StrEnum):
    """What the box does with the canary arm."""

    CONTINUE = "continue"
    PASSED = "pass"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class ArmFigures:
    """What the box measured for one arm from its funnel events."""

    views: int
    paid: int
    latency_p95_ms: float | None
    latency_samples: int


@dataclass(frozen=True, slots=True)
class Objective:
    """The canary's thresholds, from the flag bundle; defaults are the documented ones."""

    latency_p95_ms: float = 300.0
    min_latency_samples: int = 20
    margin: float = 0.02  # conversion may be this much lower (absolute) before it counts as worse
    alpha: float = 0.05
    min_views: int = 100


@dataclass(frozen=True, slots=True)
class Decision:
    """A verdict with the reason the console and the cloud show."""

    verdict: Verdict
    reason: str


def conversion_worse(
    control: ArmFigures, canary: ArmFigures, margin: float, alpha: float
) -> tuple[bool, float]:
    """Return (significantly worse, z) for H0: p_canary >= p_control - margin, one-sided."""
    if control.views == 0 or canary.views == 0:
        return False, 0.0
    p_control, p_canary = control.paid / control.views, canary.paid / canary.views
    variance = (
        p_control * (1 - p_control) / control.views + p_canary * (1 - p_canary) / canary.views
    )
    if variance == 0:
        return p_canary < p_control - margin, math.inf if p_canary < p_control - margin else 0.0
    z = (p_control - margin - p_canary) / math.sqrt(variance)
    return z > NormalDist().inv_cdf(1 - alpha), z


def judge(
    control: ArmFigures, canary: ArmFigures, objective: Objective, *, past_deadline: bool
) -> Decision:
    """Decide on the canary arm from both arms' figures."""
    slow = canary.latency_p95_ms or 0.0
    if canary.latency_samples >= objective.min_latency_samples and slow > objective.latency_p95_ms:
        return Decision(
            Verdict.OFF, f"latency: p95 {slow:.0f} ms > objective {objective.latency_p95_ms:.0f} ms"
        )
    worse, z = conversion_worse(control, canary, objective.margin, objective.alpha)
    if worse and min(control.views, canary.views) >= objective.min_views:
        return Decision(
            Verdict.OFF,
            f"conversion: {canary.paid}/{canary.views} vs control {control.paid}/{control.views}, "
            f"worse by more than {objective.margin:.0%} (z = {z:.2f}, alpha {objective.alpha})",
        )
    if past_deadline and min(control.views, canary.views) < objective.min_views:
        return Decision(
            Verdict.OFF,
            f"no data: {min(control.views, canary.views)} views in an arm by the deadline "
            f"(needs {objective.min_views})",
        )
    if past_deadline:
        return Decision(
            Verdict.PASSED, "passed: within the latency objective and not converting worse"
        )
    return Decision(Verdict.CONTINUE, "measuring")


@dataclass(frozen=True, slots=True)
class FlagDecision:
    """One decision the box took on a flag's canary arm, as stored (store/flags.py) and shown."""

    at: str
    bundle: str
    flag: str
    variant: str
    verdict: str
    reason: str
    figures: str  # JSON of both arms' figures when it was taken
