"""The shortest mix of QR modes: never a larger symbol than qrcode's own chunking, often a
smaller one, and every code decodes (zxing-cpp) to the payload byte for byte."""

from __future__ import annotations

import pytest
from decode import decode_png
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rails import RAILS, amount_for

from appliance.payments.config import PixRail, RailConfig
from appliance.payments.matrix import make_symbol
from appliance.payments.rails import payload
from appliance.payments.reference import order_reference
from appliance.payments.render import render_png
from appliance.payments.segments import shortest_segments


@pytest.mark.parametrize(("rail", "currency"), RAILS, ids=lambda v: getattr(v, "kind", None) or "")
@pytest.mark.parametrize("level", ["L", "M"])
def test_every_rail_decodes_from_the_shortest_segments(
    rail: RailConfig, currency: str, level: str
) -> None:
    text = payload(rail, amount_for(currency), order_reference(1234), currency)
    shortest = make_symbol(text, level, 4, shortest=True)
    assert shortest.version <= make_symbol(text, level, 4).version
    assert decode_png(render_png(shortest.matrix, 4)) == (text, level)


def test_a_pix_code_with_an_e_mail_key_drops_a_version() -> None:
    pix = PixRail(key="demo@stallbox.example", merchant="PASTELARIA DEMO", city="SAO PAULO")
    text = payload(pix, amount_for("BRL"), order_reference(1234), "BRL")
    assert (
        make_symbol(text, "L", 4).version,
        make_symbol(text, "L", 4, shortest=True).version,
    ) == (6, 5)
    modes = [segment.mode for segment in shortest_segments(text)]
    assert len(set(modes)) == 3  # digits, upper-case text and bytes each where they are cheapest


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0123456789ABCZ .:@aé", min_size=1, max_size=120))
def test_any_text_decodes_back(text: str) -> None:
    symbol = make_symbol(text, "M", 4, shortest=True)
    assert decode_png(render_png(symbol.matrix, 4))[0] == text


def reference_segments(payload: str) -> list[tuple[int, bytes]]:
    """The first implementation (every start, every mode, every end, slices re-measured): the
    faster one must choose exactly the same segments."""
    from appliance.payments.segments import MODES, _bits, _fits

    n = len(payload)
    best: list[tuple[int, int, int]] = [(0, 0, 0)] + [(1 << 60, 0, 0)] * n
    for start in range(n):
        for mode in MODES:
            end = start
            while end < n and _fits(payload[end], mode):
                end += 1
                bits = best[start][0] + _bits(payload[start:end], mode)
                if bits < best[end][0]:
                    best[end] = (bits, start, mode)
    segments, end = [], n
    while end > 0:
        _, start, mode = best[end]
        segments.append((mode, payload[start:end].encode()))
        end = start
    return segments[::-1]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789ABCZ .:$%*+-/@aé€", max_size=170))
def test_the_segments_are_those_of_the_reference(text: str) -> None:
    chosen = [(segment.mode, segment.data) for segment in shortest_segments(text)]
    assert chosen == reference_segments(text)
