"""QR codes for payment payloads: the module matrix and its PNG, SVG and terminal renderings.

Every rendering draws dark modules on an explicit light background (never the terminal's or
the page's own colours) with the 4-module quiet zone, at error-correction level M or higher —
what phone cameras need to read a code off a screen on the first try.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property

from PIL import Image

from appliance.payments.errors import PaymentError
from appliance.payments.matrix import QUIET_ZONE as QUIET_ZONE  # re-exported, as before
from appliance.payments.matrix import Matrix, make_symbol

LEVELS = ("M", "Q", "H")  # never L: a code on a phone screen or a creased sign needs M or more
ANSI_ON = "\x1b[30;107m"  # black on bright white
ANSI_OFF = "\x1b[0m"
HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def make_matrix(payload: str, level: str = "M") -> tuple[Matrix, int]:
    """Encode `payload` (UTF-8) as a QR matrix with its quiet zone; return it and the version."""
    if level not in LEVELS:
        raise PaymentError(f"error correction level {level!r}: M, Q or H")
    symbol = make_symbol(payload, level, QUIET_ZONE)
    return symbol.matrix, symbol.version


@dataclass(frozen=True)
class RenderedCode:
    """One payload's QR code, rendered on demand and kept."""

    payload: str
    level: str = "M"
    matrix: Matrix = field(init=False, repr=False, compare=False)
    version: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        matrix, version = make_matrix(self.payload, self.level)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "version", version)

    @property
    def size(self) -> int:
        """Modules per side, quiet zone included."""
        return len(self.matrix)

    def png(self, scale: int = 8) -> bytes:
        """PNG bytes, `scale` pixels per module, black on white (the default scale is kept)."""
        return self._png8 if scale == 8 else render_png(self.matrix, scale)

    @cached_property
    def _png8(self) -> bytes:
        return render_png(self.matrix, 8)

    @cached_property
    def svg(self) -> str:
        """A self-contained SVG, one path of dark runs on a white rectangle."""
        runs = []
        for y, row in enumerate(self.matrix):
            x = 0
            while x < len(row):
                if row[x]:
                    start = x
                    while x < len(row) and row[x]:
                        x += 1
                    runs.append(f"M{start} {y}h{x - start}v1h{start - x}z")
                else:
                    x += 1
        n = self.size
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" '
            f'shape-rendering="crispEdges"><rect width="{n}" height="{n}" fill="#fff"/>'
            f'<path fill="#000" d="{"".join(runs)}"/></svg>'
        )

    def terminal(self, ansi: bool = True) -> str:
        """Text with half blocks, two module rows per line; ANSI colours fix black on white."""
        rows = (
            [*self.matrix, tuple(False for _ in self.matrix[0])]
            if self.size % 2
            else list(self.matrix)
        )
        lines = []
        for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
            text = "".join(HALF_BLOCKS[(a, b)] for a, b in zip(top, bottom, strict=True))
            lines.append(f"{ANSI_ON}{text}{ANSI_OFF}" if ansi else text)
        return "\n".join(lines)


def render_png(matrix: Matrix, scale: int) -> bytes:
    """A matrix as PNG bytes, `scale` pixels per module."""
    n = len(matrix)
    image = Image.new("1", (n, n), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    image = image.resize((n * scale, n * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
