"""Which payment code fits a screen: the highest error-correction level its standard allows
whose symbol fits the largest side an area can show.

EPC069-12 (SEPA credit transfer) fixes level M; EMVCo merchant-presented codes (Pix, PromptPay,
PayNow) and UPI links fix none, so they may go down to L when nothing higher fits. The data is
the shortest mix of QR modes (segments.py); the symbol's size at each level is found without
building it, so only the chosen symbol is built (each built one costs milliseconds here, seven
times that on a Pi). The node uses this at tender time for the console that asked
(appliance/api/operator/tender_qr.py), the console when a node did not (tui/widgets/qr.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the encoder is imported when a code is built: `levels_for` costs nothing
    from appliance.payments.matrix import Symbol

EPC_LEVELS = ("M",)  # EPC069-12: error correction level M, no other
OTHER_LEVELS = ("H", "Q", "M", "L")  # ISO/IEC 18004 allows all four; the highest that fits


def levels_for(payload: str) -> tuple[str, ...]:
    """The error-correction levels a payload's standard allows, most robust first."""
    return EPC_LEVELS if payload.startswith("BCD\n") else OTHER_LEVELS


def fit_symbol(payload: str, sides: Sequence[int]) -> tuple[int, Symbol]:
    """The first of `sides` (modules a side, quiet zone included) that holds the payload's
    code, and the code at the highest level allowed there; (-1, lowest level) if none does."""
    from appliance.payments.matrix import QUIET_ZONE, make_symbol, version_for
    from appliance.payments.segments import shortest_segments

    levels = levels_for(payload)
    segments = shortest_segments(payload)
    size: dict[str, int] = {}
    for index, room in enumerate(sides):
        for level in levels:
            if level not in size:
                size[level] = version_for(segments, level) * 4 + 17 + 2 * QUIET_ZONE
            if size[level] <= room:
                return index, make_symbol(payload, level, QUIET_ZONE, segments=segments)
    return -1, make_symbol(payload, levels[-1], QUIET_ZONE, segments=segments)
