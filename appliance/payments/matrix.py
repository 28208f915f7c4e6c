"""QR module matrices with the mask chosen by bit-parallel penalty scoring, ~5x faster.

The qrcode library chooses the best of the 8 masks by building and scoring the whole symbol 8 times
in pure Python: about 80 % of a payment code's cost (DESIGN §6: 8-10 ms here, 60-90 ms on a Pi).
Here qrcode still does the standard's hard parts (segments, version, Reed-Solomon codewords), but
the symbol is laid out once, unmasked, as one integer with a bit per module (rows padded with a
guard bit so nothing runs across rows). A mask is then one XOR, and the four ISO/IEC 18004 penalty
rules are counted with shifts, ANDs and popcounts over the whole symbol at once.

The scoring mirrors qrcode's own `util.lost_point` (format and version areas left light while
scoring, as qrcode does), so the chosen mask, and the whole matrix, is exactly the one qrcode would
make. Tests hold the two equal and decode every result with zxing-cpp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import qrcode
import qrcode.constants
from qrcode import util

LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}
# The finder-like patterns of penalty rule 3, module by module (True = dark).
_FINDER_LIKE = (
    tuple(c == "1" for c in "10111010000"),
    tuple(c == "1" for c in "00001011101"),
)

QUIET_ZONE = 4  # modules of light margin on every side, as ISO/IEC 18004 requires
Matrix = tuple[tuple[bool, ...], ...]
_Grid = list[list[bool | None]]


@dataclass(frozen=True, slots=True)
class _Layout:
    """What one version's symbols share: sizes, the data region and masks, as bit sets."""

    size: int
    stride: int  # bits per row: the modules plus one guard bit that is always 0
    order: tuple[int, ...]  # bit index of each data module, in placement order
    scoring_base: int  # function patterns with format/version areas light (how qrcode scores)
    masks: tuple[int, ...]  # each mask pattern restricted to the data region
    full: int  # every module
    pairs_h: int  # modules with a right-hand neighbour
    pairs_v: int  # modules with a neighbour below
    starts_h: int  # where an 11-module run fits to the right
    starts_v: int  # where an 11-module run fits below


def _bits(cells: _Grid, stride: int, want: bool | None) -> int:
    """The set of modules whose value is `want`, as an integer."""
    out = bytearray(b"0" * (len(cells) * stride))
    top = len(out) - 1
    for i, row in enumerate(cells):
        for j, value in enumerate(row):
            if value is want:
                out[top - (i * stride + j)] = 49  # "1"
    return int(out, 2)


def _function_patterns(version: int, level: int, mask: int | None) -> _Grid:
    """The grid with only the function patterns set (None = data); mask None = as while scoring."""
    code = qrcode.QRCode(version=version, error_correction=level)
    n = code.modules_count = version * 4 + 17
    grid: _Grid = [[None] * n for _ in range(n)]
    code.modules = grid
    for row, col in ((0, 0), (n - 7, 0), (0, n - 7)):
        code.setup_position_probe_pattern(row, col)
    code.setup_position_adjust_pattern()
    code.setup_timing_pattern()
    code.setup_type_info(mask is None, mask or 0)
    if version >= 7:
        code.setup_type_number(mask is None)
    return grid


def _where(n: int, stride: int, rows: range, cols: range) -> int:
    """The modules in `rows` x `cols`, as an integer."""
    row_bits = sum(1 << j for j in cols)
    return sum(row_bits << (i * stride) for i in rows)


@cache  # at most 40 versions (x 4 levels x 8 masks)
def _layout(version: int) -> _Layout:
    """Precompute the data region, placement order and masks of `version` (level-independent)."""
    n, stride = version * 4 + 17, version * 4 + 18
    grid = _function_patterns(version, qrcode.constants.ERROR_CORRECT_M, None)
    order: list[int] = []
    row, step = n - 1, -1
    for right in range(n - 1, 0, -2):  # two-module columns, right to left, zigzag (as qrcode)
        col = right - 1 if right <= 6 else right  # skip the vertical timing pattern
        while 0 <= row < n:
            order.extend(row * stride + c for c in (col, col - 1) if grid[row][c] is None)
            row += step
        row, step = row - step, -step
    masks = []
    for pattern in range(8):
        flip = util.mask_func(pattern)
        cells: _Grid = [
            [grid[i][j] is None and bool(flip(i, j)) for j in range(n)] for i in range(n)
        ]
        masks.append(_bits(cells, stride, True))
    return _Layout(
        size=n,
        stride=stride,
        order=tuple(order),
        scoring_base=_bits(grid, stride, True),
        masks=tuple(masks),
        full=_where(n, stride, range(n), range(n)),
        pairs_h=_where(n, stride, range(n), range(n - 1)),
        pairs_v=_where(n, stride, range(n - 1), range(n)),
        starts_h=_where(n, stride, range(n), range(n - 10)),
        starts_v=_where(n, stride, range(n - 10), range(n)),
    )


@cache  # at most 40 versions (x 4 levels x 8 masks)
def _final_base(version: int, level: int, mask: int) -> int:
    """Function patterns with the real format (level, mask) and version information."""
    return _bits(_function_patterns(version, level, mask), version * 4 + 18, True)


def penalty(symbol: int, layout: _Layout) -> int:
    """ISO/IEC 18004 mask penalty of a symbol held as bits, counted as qrcode's lost_point does."""
    x, s = symbol, layout.stride
    light = x ^ layout.full
    same_h = ~(x ^ (x >> 1)) & layout.pairs_h  # module equals its right neighbour
    same_v = ~(x ^ (x >> s)) & layout.pairs_v  # module equals the one below
    score = 0
    for same, step in ((same_h, 1), (same_v, s)):
        # Rule 1: a run of L >= 5 costs L - 2 = (L - 4 windows of five) + 2 per run.
        five = same & (same >> step) & (same >> 2 * step) & (same >> 3 * step)
        score += five.bit_count() + 2 * (five & ~(same << step)).bit_count()
    score += 3 * (same_h & (same_h >> s) & same_v).bit_count()  # rule 2: 2x2 blocks
    for starts, step in ((layout.starts_h, 1), (layout.starts_v, s)):  # rule 3: 1:1:3:1:1
        for pattern in _FINDER_LIKE:
            found = starts
            for k, dark in enumerate(pattern):
                found &= (x if dark else light) >> (k * step)
            score += 40 * found.bit_count()
    n = layout.size
    percent = float(x.bit_count()) / (n**2)  # rule 4, in qrcode's own float arithmetic
    return score + int(abs(percent * 100 - 50) / 5) * 10


def _data_bits(codewords: list[int], layout: _Layout) -> int:
    """The codewords placed in the data region, unmasked."""
    stream = format(int.from_bytes(bytes(codewords), "big"), f"0{len(codewords) * 8}b")
    out = bytearray(b"0" * (layout.size * layout.stride))
    top = len(out) - 1
    for position, bit in zip(layout.order, stream, strict=False):  # leftover modules stay light
        if bit == "1":
            out[top - position] = 49
    return int(out, 2)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A QR symbol: its modules (quiet zone included), version, level and mask."""

    matrix: Matrix
    version: int
    level: str
    mask: int


def version_for(segments: Sequence[util.QRData], level: str) -> int:
    """The smallest version that holds these segments at `level` (no symbol is built)."""
    code = qrcode.QRCode(error_correction=LEVELS[level])
    for segment in segments:
        code.add_data(segment)
    return int(code.best_fit())


def make_symbol(
    payload: str,
    level: str = "M",
    border: int = 4,
    *,
    shortest: bool = False,
    segments: Sequence[util.QRData] | None = None,
) -> Symbol:
    """Encode `payload` (UTF-8, segments as qrcode picks them, or the shortest mix of modes if
    `shortest`: see segments.py, or `segments` already chosen for it) with the best mask."""
    code = qrcode.QRCode(error_correction=LEVELS[level], border=border)
    if shortest and segments is None:
        from appliance.payments.segments import shortest_segments

        segments = shortest_segments(payload)
    if segments is not None:
        for segment in segments:
            code.add_data(segment)
    else:
        code.add_data(payload)
    version = code.best_fit()
    layout = _layout(version)
    data = _data_bits(util.create_data(version, LEVELS[level], code.data_list), layout)
    scores = [penalty(layout.scoring_base | (data ^ mask), layout) for mask in layout.masks]
    best = scores.index(min(scores))  # the first of equals, as qrcode
    bits = _final_base(version, LEVELS[level], best) | (data ^ layout.masks[best])
    return Symbol(_matrix(bits, layout, border), version, level, best)


def _matrix(bits: int, layout: _Layout, border: int) -> Matrix:
    n, stride = layout.size, layout.stride
    text = format(bits, f"0{n * stride}b")[::-1]  # text[k] is bit k
    edge = (False,) * border
    light_row = (False,) * (n + 2 * border)
    body = [
        edge + tuple(c == "1" for c in text[i * stride : i * stride + n]) + edge for i in range(n)
    ]
    return (light_row,) * border + tuple(body) + (light_row,) * border
