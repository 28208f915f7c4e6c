"""A QR code drawn with half blocks, dark on an explicit light background, quiet zone included.

On a Linux console whose font lacks the half blocks the code is drawn with full blocks, two
cells a module (square on an 8x16 font); with no block glyph at all the widget says where the
customer can scan instead.

A payment code's matrix comes from the node with the tender's answer (it builds the code at
tender time for the areas the console names: appliance/api/operator/tender_qr.py), so the pay step only
draws it. From an older node the console builds it off the event loop (qrcode costs
milliseconds, DESIGN §6); a receipt's code is built here, cached per payload. The QR encoder
(qrcode) is imported on the first code built here, not at the console's start: `warm` imports
it on a thread once the first pay screen is drawn, before its receipt needs it. If the
widget is too small for the code it says so instead of drawing a code no phone could read.
The code itself is drawn through Textual's line API from strips built once per code (one
segment a line): no Rich text to parse, wrap and crop on every layout and frame, which cost
the pay step more CPU than building the code (docs/performance/2026-12-05-keystroke-to-qr.md).

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

from collections.abc import Sequence
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widgets import Static

from appliance.api.schemas import QrOut
from appliance.payments.fit import levels_for as levels_for  # re-exported for the screens

QR_STYLE = Style(color="black", bgcolor="white")
HALF = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


SIDE_W = 34  # the pay screen's amount, reference and keys beside a full-screen code
FRAME_H = 3  # title line, status bar, footer
WHERE_TO_SCAN = "scan the customer display or the node's pay page."
NO_GLYPHS = f"No QR on this screen (its font has no blocks): {WHERE_TO_SCAN}"


Matrix = Sequence[Sequence[bool]]


@lru_cache(maxsize=64)
def qr_lines(payload: str, blocks: str = "half", level: str = "M") -> tuple[str, ...]:
    """The code as text lines: half blocks (two module rows a line) or full blocks, or none."""
    if blocks == "none":
        return ()
    from appliance.payments.matrix import QUIET_ZONE, make_symbol

    return lines_of(make_symbol(payload, level, QUIET_ZONE, shortest=True).matrix, blocks)


def lines_of(matrix: Matrix, blocks: str) -> tuple[str, ...]:
    """A matrix (quiet zone included) as text lines: half blocks or full blocks."""
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
    import appliance.payments.segments  # noqa: F401


def room(width: int, height: int, blocks: str) -> int:
    """The largest code (modules a side) that width x height cells can show in `blocks`."""
    side = min(width, 2 * height) if blocks == "half" else min(width // 2, height)
    return min(max(0, side), 999) if blocks in ("half", "full") else 0


def qr_areas(size: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """Where a rail's code may go, preferred first: beside the side panel inside the frame,
    then the whole screen's height (the frame hidden)."""
    width, height = size
    return ((width - SIDE_W, height - FRAME_H), (width - SIDE_W, height))


def qr_sides(size: tuple[int, int], blocks: str, tender: str) -> tuple[int, ...]:
    """What to ask the node for with a tender: the largest code each area can show (none for
    cash, or a screen without block glyphs)."""
    if tender == "cash" or blocks not in ("half", "full"):
        return ()
    return tuple(room(width, height, blocks) for width, height in qr_areas(size))


def node_lines(qr: QrOut, blocks: str, asked: int) -> tuple[int, tuple[str, ...]] | None:
    """The lines of a code the node built (the tender's `qr`), and the area it chose among
    the `asked` ones; None if the answer is not a well-formed matrix (then build it here)."""
    digits = (qr.size + 3) // 4
    if not (29 <= qr.size <= 185 and len(qr.rows) == qr.size and -1 <= qr.fit < asked):
        return None
    try:
        matrix = [
            tuple(c == "1" for c in format(int(row, 16), f"0{digits * 4}b")[: qr.size])
            for row in qr.rows
            if len(row) == digits
        ]
    except ValueError:  # not hex
        return None
    if len(matrix) != qr.size:
        return None
    return qr.fit, lines_of(matrix, blocks)


def fits(lines: tuple[str, ...], width: int, height: int) -> bool:
    """Do these lines fit in width x height cells?"""
    return bool(lines) and len(lines[0]) <= width and len(lines) <= height


def fit_lines(
    payload: str, blocks: str, areas: tuple[tuple[int, int], ...]
) -> tuple[int, tuple[str, ...]]:
    """The first area (width, height) where the code fits, and its lines at the highest level
    the payload's standard allows there; (-1, lines at the lowest level) if none fits."""
    if blocks not in ("half", "full"):
        return -1, ()
    from appliance.payments.fit import fit_symbol

    where, symbol = fit_symbol(payload, [room(width, height, blocks) for width, height in areas])
    return where, lines_of(symbol.matrix, blocks)


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
        """Show a code whose lines were built (see qr_lines) off the event loop.

        Whether it fits is judged once it is laid out (`on_resize`): until then the widget
        has the size of what it showed before, which says nothing about the room it has.
        """
        self.payload, self.lines, self.painted = payload, lines, None
        if not lines:
            self._message(NO_GLYPHS)
            return
        self.remove_class("too-small")
        same_size = self._strips_size() == (len(lines[0]), len(lines))
        self.strips = [Strip([Segment(line, QR_STYLE)], len(line)) for line in lines]
        self.refresh(layout=not same_size)  # the same size as the last code: a repaint only

    def clear(self) -> None:
        """Show nothing (a kept pay screen, between two sales), keeping the last code's size:
        the next code is most often as large, and then needs a repaint, not a layout."""
        self.payload, self.lines, self.painted = None, (), None
        if self.strips:
            blank = Strip.blank(self.strips[0].cell_length, self.visual_style.rich_style)
            self.strips = [blank] * len(self.strips)
            self.refresh()
        else:
            self._message("")

    def on_resize(self) -> None:
        if not self.strips:  # a message (or nothing) is shown
            return
        width, height = self.content_region.size
        strips_width, strips_height = self._strips_size()
        if width >= strips_width and height >= strips_height:
            return
        if self.lines:  # laid out smaller than the code: no code a phone could not read
            self._too_small()
        else:  # a blank kept from the last code, larger than the room now: let it go
            self._message("")

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

    def _strips_size(self) -> tuple[int, int]:
        return (self.strips[0].cell_length, len(self.strips)) if self.strips else (0, 0)

    def _too_small(self) -> None:
        need = f"{len(self.lines[0])}x{len(self.lines)}"
        where = self.elsewhere or WHERE_TO_SCAN
        if getattr(self.app, "vt_filter", None) is not None:  # a fixed screen: no larger
            self._message(f"QR needs {need} cells, more than this screen: {where}")
        else:
            self._message(f"QR needs {need} cells: make the window larger, or {where}")
        self.add_class("too-small")
