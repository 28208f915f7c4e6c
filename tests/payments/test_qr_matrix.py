"""The fast mask choice makes exactly qrcode's symbol, and every rendering scans at level >= M.

The oracle is the qrcode library's own full evaluation (8 symbols built and scored); the decoder
is zxing-cpp. Neither was written here.
"""

from __future__ import annotations

import random
import re

import pytest
import qrcode
from decode import ANSI, at_least_m, decode_all, decode_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qrcode import util

from appliance.payments import epc
from appliance.payments.errors import PaymentError
from appliance.payments.matrix import LEVELS, _layout, make_symbol, penalty
from appliance.payments.render import QUIET_ZONE, RenderedCode


def qrcode_matrix(payload: str, level: str) -> tuple[tuple[tuple[bool, ...], ...], int, int]:
    """What qrcode itself makes: matrix with a 4-module border, version, and chosen mask."""
    code = qrcode.QRCode(error_correction=LEVELS[level], border=4)
    code.add_data(payload)
    code.make(fit=True)
    matrix = tuple(tuple(bool(m) for m in row) for row in code.get_matrix())
    return matrix, int(code.version), code.best_mask_pattern()  # (this one scribbles on modules)


payloads = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=200),
    st.text(min_size=1, max_size=60).filter(lambda t: "\x00" not in t),  # any Unicode: UTF-8 bytes
    st.from_regex(r"[0-9]{1,400}", fullmatch=True),  # numeric mode
    st.from_regex(r"[0-9A-Z $%*+./:-]{1,250}", fullmatch=True),  # alphanumeric mode
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, level=st.sampled_from("LMQH"))
def test_the_fast_mask_choice_makes_exactly_qrcodes_symbol(payload: str, level: str) -> None:
    symbol = make_symbol(payload, level)
    matrix, version, mask = qrcode_matrix(payload, level)
    assert (symbol.version, symbol.mask) == (version, mask)
    assert symbol.matrix == matrix


def test_every_mask_and_large_versions_are_covered() -> None:
    rng = random.Random(7)
    seen = set()
    for size in (1, 20, 90, 180, 400, 1000):  # versions 1 to 30, version information from 7
        for _ in range(6 if size < 400 else 1):
            payload = "".join(rng.choice("abcXYZ0123-/:é") for _ in range(size))
            symbol = make_symbol(payload, "M")
            assert symbol.matrix == qrcode_matrix(payload, "M")[0]
            seen.add(symbol.mask)
    assert len(seen) >= 5  # the choice is a real choice, not one fixed mask


@pytest.mark.parametrize("version", [1, 2, 7, 12])
def test_penalty_equals_qrcodes_lost_point_on_random_grids(version: int) -> None:
    rng = random.Random(version)
    layout = _layout(version)
    n = layout.size
    for density in (0.1, 0.5, 0.9):
        grid = [[rng.random() < density for _ in range(n)] for _ in range(n)]
        bits = sum(1 << (i * layout.stride + j) for i in range(n) for j in range(n) if grid[i][j])
        assert penalty(bits, layout) == util.lost_point(grid)


def test_renderings_have_a_light_quiet_zone_and_an_explicit_background() -> None:
    code = RenderedCode("BCD\n002\n1\nSCT\n\nA\nDE33100205000001194700\nEUR1")
    for row in (*code.matrix[:QUIET_ZONE], *code.matrix[-QUIET_ZONE:]):
        assert not any(row)
    for row in code.matrix:
        assert not any(row[:QUIET_ZONE]) and not any(row[-QUIET_ZONE:])
    assert '<rect width="' in code.svg and 'fill="#fff"' in code.svg and 'fill="#000"' in code.svg
    ansi = code.terminal(ansi=True)
    assert all(
        line.startswith("\x1b[30;107m") and line.endswith("\x1b[0m") for line in ansi.split("\n")
    )
    plain = code.terminal(ansi=False)
    assert plain == ANSI.sub("", ansi) and set(plain) <= set(" ▀▄█\n")
    assert len(plain.split("\n")) == (code.size + 1) // 2


def test_an_epc_code_is_exactly_level_m_and_every_rendering_scans() -> None:
    payload = "BCD\n002\n1\nSCT\n\nCrêperie Lüneburg\nDE33100205000001194700\nEUR18.5\n\nRF72001Y"
    assert epc.parse(payload).reference == "RF72001Y"
    for decoded, level in decode_all(RenderedCode(payload, "M")):
        assert (decoded, level) == (payload, "M")


def test_higher_levels_render_and_scan_too() -> None:
    text, level = decode_png(RenderedCode("upi://pay?pa=a@b&pn=A%20B&cu=INR", "Q").png(scale=3))
    assert text == "upi://pay?pa=a@b&pn=A%20B&cu=INR" and level == "Q" and at_least_m(level)


def test_level_l_is_refused() -> None:
    with pytest.raises(PaymentError, match=re.escape("error correction level 'L': M, Q or H")):
        RenderedCode("x", "L")
