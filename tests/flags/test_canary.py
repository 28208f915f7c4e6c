"""The canary judge: slow arms, worse-converting arms and arms without data are switched off."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from appliance.flags.canary import ArmFigures, Objective, Verdict, conversion_worse, judge

OBJ = Objective()
CONTROL = ArmFigures(views=1000, paid=300, latency_p95_ms=120, latency_samples=1000)


def arm(views: int, paid: int, p95: float = 120, samples: int = 1000) -> ArmFigures:
    return ArmFigures(views, paid, p95, samples)


def test_a_slow_arm_is_off_at_once_without_waiting_for_statistics() -> None:
    decision = judge(CONTROL, arm(25, 10, p95=320, samples=25), OBJ, past_deadline=False)
    assert decision.verdict is Verdict.OFF and decision.reason.startswith("latency")
    assert (
        judge(CONTROL, arm(5, 2, p95=900, samples=5), OBJ, past_deadline=False).verdict
        is Verdict.CONTINUE
    )


def test_worse_conversion_is_off_only_when_significant() -> None:
    clearly = judge(CONTROL, arm(1000, 200), OBJ, past_deadline=False)  # 20% vs 30%
    assert clearly.verdict is Verdict.OFF and clearly.reason.startswith("conversion")
    within_margin = judge(CONTROL, arm(1000, 290), OBJ, past_deadline=True)  # 29% vs 30%, margin 2%
    assert within_margin.verdict is Verdict.PASSED
    too_few = judge(
        arm(60, 30), arm(60, 20), OBJ, past_deadline=False
    )  # under min_views: keep measuring
    assert too_few.verdict is Verdict.CONTINUE


def test_no_data_by_the_deadline_fails_closed() -> None:
    decision = judge(CONTROL, arm(0, 0, p95=0, samples=0), OBJ, past_deadline=True)
    assert decision.verdict is Verdict.OFF and decision.reason.startswith("no data")


def test_an_equal_arm_is_rarely_called_worse() -> None:
    """Type I error: with identical true rates, the test says 'worse' in well under alpha of runs."""
    rng = random.Random(7)
    false_alarms = 0
    for _ in range(400):
        a = sum(rng.random() < 0.3 for _ in range(500))
        b = sum(rng.random() < 0.3 for _ in range(500))
        false_alarms += conversion_worse(arm(500, a), arm(500, b), OBJ.margin, OBJ.alpha)[0]
    assert false_alarms / 400 < OBJ.alpha


@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000))
def test_more_sales_in_the_canary_never_make_it_worse(v1: int, p1: int, v2: int, p2: int) -> None:
    control, canary = arm(max(v1, p1), min(v1, p1)), arm(max(v2, p2), min(v2, p2))
    if (
        canary.paid < canary.views
        and conversion_worse(control, arm(canary.views, canary.paid + 1), 0.02, 0.05)[0]
    ):
        assert conversion_worse(control, canary, 0.02, 0.05)[0]
