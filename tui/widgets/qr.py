"""A QR code drawn with half blocks, dark on an explicit light background, quiet zone included.

On a Linux console whose font lacks the half blocks the code is drawn with full blocks, two
cells a module (square on an 8x16 font); with no block glyph at all the widget says where the
customer can scan instead.

The matrix is built off the event loop (qrcode costs milliseconds, DESIGN §6) and cached per
payload. The QR encoder (qrcode, and PIL under it) is imported on the first code, not at the
console's start (~15% of the start's imports, docs/performance.md): `warm` imports it on a
thread once the sell screen is up, so the first sale does not wait for it either. If the
widget is too small for the code it says so instead of drawing a code no phone could read.
The code itself is drawn through Textual's line API from strips built once per code (one
segment a line): no Rich text to parse, wrap and crop on every layout and frame, which cost
the pay step more CPU than building the code (docs/performance.md, "Keystroke -> QR").

Fitting a payment code on a small terminal (80x24 is 48 half-block module rows) is a choice per
rail within what the standards allow, made by `fit_lines`: the data is the shortest mix of
numeric, alphanumeric and byte segments (appliance/payments/segments.py); a module is always one cell wide and
half a cell tall (square on a 1:2 cell), the quiet zone is always the 4 modules ISO/IEC 18004
requires, and the error-correction level is the highest that fits — EPC069-12 (SEPA credit
transfer) fixes level M, so an EPC code is always M; EMVCo merchant-presented codes (Pix,
PromptPay, PayNow) and UPI links fix none, so they may go down to L (7 % recovery, read off a
lit screen at arm's length) when nothing higher fits.
"""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Static

QR_STYLE = Style(color="black", bgcolor="white")
HALF = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


WHERE_TO_SCAN = "scan the customer display or the node's pay page."
NO_GLYPHS = f"No QR on this screen (its font has no blocks): {WHERE_TO_SCAN}"


EPC_LEVELS = ("M",)  # EPC069-12: error correction level M, no other
OTHER_LEVELS = ("H", "Q", "M", "L")  # ISO/IEC 18004 allows all four; the highest that fits


def levels_for(payload: str) -> tuple[str, ...]:
    """The error-correction levels a payload's standard allows, most robust first."""
    return EPC_LEVELS if payload.startswith("BCD\n") else OTHER_LEVELS


@lru_cache(maxsize=64)
def qr_lines(payload: str, blocks: str = "half", level: str = "M") -> tuple[str, ...]:
    """The code as text lines: half blocks (two module rows a line) or full blocks, or none."""
    if blocks == "none":
        return ()
    from appliance.payments.matrix import make_symbol
    from appliance.payments.render import QUIET_ZONE

    matrix = make_symbol(payload, level, QUIET_ZONE, shortest=True).matrix
    if blocks == "full":
        return tuple("".join("██" if dark else "  " for dark in row) for row in matrix)
    rows = [*matrix, (False,) * len(matrix[0])] if len(matrix) % 2 else list(matrix)
    return tuple(
        "".join(HALF[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(rows[::2], rows[1::2], strict=True)
    )


def warm() -> None:
    """Import the QR encoder now (call it on a thread once the console is idle)."""
    import appliance.payments.matrix
    import appliance.payments.render  # noqa: F401


def fits(lines: tuple[str, ...], width: int, height: int) -> bool:
    """Do these lines fit in width x height cells?"""
    return bool(lines) and len(lines[0]) <= width and len(lines) <= height


def fit_lines(
    payload: str, blocks: str, areas: tuple[tuple[int, int], ...]
) -> tuple[int, tuple[str, ...]]:
    """The first area (width, height) where the code fits, and its lines at the highest level
    the payload's standard allows there; (-1, lines at the lowest level) if none fits."""
    levels = levels_for(payload)
    for index, (width, height) in enumerate(areas):
        for level in levels:
            lines = qr_lines(payload, blocks, level)
            if fits(lines, width, height):
                return index, lines
    return -1, qr_lines(payload, blocks, levels[-1])


class QrCode(Static):
    """Shows one payload's QR code, or why it cannot."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.payload: str | None = None
        self.lines: tuple[str, ...] = ()
        self.elsewhere = ""  # where else the code can be seen, when it does not fit here
        self.strips: list[Strip] = []  # the code drawn, one strip a line; empty: a message
        self.painted: str | None = None  # the payload whose code was last painted on screen

    def show(self, payload: str, lines: tuple[str, ...]) -> None:
        """Show a code whose lines were built (see qr_lines) off the event loop."""
        self.payload = payload
        self.lines = lines
        self.painted = None
        self._draw()

    def clear(self) -> None:
        """Show nothing (a kept pay screen, between two sales)."""
        self.payload, self.lines, self.painted = None, (), None
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    @property
    def fits(self) -> bool:
        """The whole code fits the widget's content area."""
        size = self.content_region.size
        return fits(self.lines, size.width, size.height)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        if self.strips:
            return self.strips[0].cell_length
        return super().get_content_width(container, viewport)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self.strips:
            return len(self.strips)
        return super().get_content_height(container, viewport, width)

    def render_line(self, y: int) -> Strip:
        if not self.strips:
            return super().render_line(y)
        self.painted = self.payload
        if y < len(self.strips):
            return self.strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _message(self, text: str) -> None:
        self.strips = []
        self.update(text)

    def _draw(self) -> None:
        if not self.lines:
            self._message(NO_GLYPHS if self.payload else "")
            return
        if not self.fits and self.content_region.size.width > 0:
            need = f"{len(self.lines[0])}x{len(self.lines)}"
            where = self.elsewhere or WHERE_TO_SCAN
            if getattr(self.app, "vt_filter", None) is not None:  # a fixed screen: no larger
                self._message(f"QR needs {need} cells, more than this screen: {where}")
            else:
                self._message(f"QR needs {need} cells: make the window larger, or {where}")
            self.add_class("too-small")
            return
        self.remove_class("too-small")
        same_size = [(s.cell_length, len(self.strips)) for s in self.strips[:1]] == [
            (len(self.lines[0]), len(self.lines))
        ]
        self.strips = [Strip([Segment(line, QR_STYLE)], len(line)) for line in self.lines]
        self.refresh(layout=not same_size)  # the same size as the last code: a repaint only
