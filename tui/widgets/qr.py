"""A QR code drawn with half blocks, dark on an explicit light background, quiet zone included.

On a Linux console whose font lacks the half blocks the code is drawn with full blocks, two
cells a module (square on an 8x16 font); with no block glyph at all the widget says where the
customer can scan instead.

The matrix is built off the event loop (qrcode costs milliseconds, DESIGN §6) and cached per
payload. If the widget is too small for the code it says so instead of drawing a code no phone
could read.
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from appliance.payments.render import RenderedCode

QR_STYLE = Style(color="black", bgcolor="white")


WHERE_TO_SCAN = "scan the customer display or the node's pay page."
NO_GLYPHS = f"No QR on this screen (its font has no blocks): {WHERE_TO_SCAN}"


@lru_cache(maxsize=64)
def qr_lines(payload: str, blocks: str = "half") -> tuple[str, ...]:
    """The code as text lines: half blocks (two module rows a line) or full blocks, or none."""
    code = RenderedCode(payload)
    if blocks == "full":
        return tuple("".join("██" if dark else "  " for dark in row) for row in code.matrix)
    if blocks == "none":
        return ()
    return tuple(code.terminal(ansi=False).split("\n"))


class QrCode(Static):
    """Shows one payload's QR code, or why it cannot."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.payload: str | None = None
        self.lines: tuple[str, ...] = ()

    def show(self, payload: str, lines: tuple[str, ...]) -> None:
        """Show a code whose lines were built (see qr_lines) off the event loop."""
        self.payload = payload
        self.lines = lines
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    @property
    def fits(self) -> bool:
        """The whole code fits the widget's content area."""
        if not self.lines:
            return False
        size = self.content_region.size
        return len(self.lines[0]) <= size.width and len(self.lines) <= size.height

    def _draw(self) -> None:
        if not self.lines:
            self.update(NO_GLYPHS if self.payload else "")
            return
        if not self.fits and self.content_region.size.width > 0:
            need = f"{len(self.lines[0])}x{len(self.lines)}"
            if getattr(self.app, "vt_filter", None) is not None:  # a fixed screen: no larger
                self.update(f"QR needs {need} cells, more than this screen: {WHERE_TO_SCAN}")
            else:
                self.update(
                    f"QR needs {need} cells: make the window larger (or use the node's pay page)"
                )
            self.add_class("too-small")
            return
        self.remove_class("too-small")
        self.update(Text("\n".join(self.lines), style=QR_STYLE, no_wrap=True, overflow="crop"))
