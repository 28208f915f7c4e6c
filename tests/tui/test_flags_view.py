"""The console's words for the box's canaries: the notice when the judge acts, the Numbers lines."""

from __future__ import annotations

from appliance.api.flags_schemas import ArmOut, BundleOut, FlagsOut
from tui.flags_view import flag_lines, flag_notice

REASON = "latency: p95 412 ms > objective 300 ms"


def test_a_decision_is_a_notice_naming_the_arm_and_why() -> None:
    data = {"flag": "cart-upsell", "variant": "pastel", "verdict": "off", "reason": REASON}
    assert flag_notice(data) == f"Canary cart-upsell/pastel switched OFF: {REASON}"
    assert "passed" in flag_notice({**data, "verdict": "pass"})


def test_the_numbers_screen_lists_each_arm_with_its_state_and_reason() -> None:
    arms = [
        ArmOut("cart-upsell", "control", True, "control", "", 40, 9, 12.0, 40),
        ArmOut("cart-upsell", "pastel", False, "off", REASON, 38, 7, 412.0, 38),
    ]
    flags = FlagsOut("ana/fair", BundleOut("ab", "ana/fair", 1, 2, 1.5, ["cart-upsell"]), arms, [])
    assert flag_lines(flags) == [
        "Canaries (edge flags):",
        "  cart-upsell/control CONTROL · 9/40 paid, p95 12 ms",
        "  cart-upsell/pastel OFF · 7/38 paid, p95 412 ms",
        f"    {REASON}",
    ]
    assert flag_lines(FlagsOut("", None, [], [])) == []  # no bundle: nothing to say
