"""What the console may draw on the Linux VT: the loaded font's glyphs and the VT's colours.

On the box's own screen (TERM=linux) every line Textual renders passes through VtFilter: a
character the font lacks becomes a plain one it has (a box line, `+`, `#`, `?`), and every colour
becomes the nearest of the VT's palette — 16 colours, or 8 for the foreground when the font has
512 glyphs (the kernel then spends the bright bit on the 9th glyph bit). A foreground that would
land on its own background is flipped to black or white, so no text disappears. The glyphs come
from the running font (the kernel's unicode map, GIO_UNIMAP on the tty), else from the font file
the unit loads, else ASCII only.
"""

from __future__ import annotations

import ctypes
import fcntl
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.color import Color as TextualColor
from textual.filter import LineFilter

from tui.errors import FontError
from tui.vt.font import read_psf

FONT_PATH = Path("/opt/stallbox/share/stallbox-console.psf")
ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))
GIO_UNIMAP = 0x4B66
LIGHT = {2, 3, 6, 7, 10, 11, 12, 13, 14, 15}  # backgrounds that want black text
FALLBACK = {"✔": "+", "✓": "+", "✖": "x", "✗": "x", "⚠": "!", "⏎": "<", "⌫": "<", "…": "~"}


@dataclass(frozen=True, slots=True)
class VtGlyphs:
    """The glyphs the VT can draw now, where that was learnt, and how many colours it has."""

    chars: frozenset[str]
    source: str
    colours: int = 16

    @property
    def half_blocks(self) -> bool:
        """The font draws the QR's half blocks."""
        return {"▀", "▄", "█"} <= self.chars


def running_font(fd: int) -> VtGlyphs | None:
    """The unicode map of the font the VT on `fd` shows now (None when fd is not a VT)."""

    class Unipair(ctypes.Structure):
        _fields_ = (("unicode", ctypes.c_ushort), ("fontpos", ctypes.c_ushort))

    class Unimapdesc(ctypes.Structure):  # the pointer's size and padding follow the platform
        _fields_ = (("entry_ct", ctypes.c_ushort), ("entries", ctypes.POINTER(Unipair)))

    entries = (Unipair * 65535)()
    desc = Unimapdesc(65535, ctypes.cast(entries, ctypes.POINTER(Unipair)))
    try:
        fcntl.ioctl(fd, GIO_UNIMAP, desc, True)
    except OSError:
        return None
    pairs = entries[: desc.entry_ct]
    if not pairs:
        return None
    chars = frozenset(chr(p.unicode) for p in pairs if not 0xD800 <= p.unicode < 0xE000)
    wide = max(p.fontpos for p in pairs) >= 256
    return VtGlyphs(chars, "the running console font", 8 if wide else 16)


def vt_glyphs(font: Path = FONT_PATH, fd: int | None = None) -> VtGlyphs:
    """What the VT draws: the running font, else the font file the unit loads, else ASCII."""
    if fd is not None and (found := running_font(fd)) is not None:
        return found
    try:
        psf = read_psf(font.read_bytes())
    except (OSError, FontError):
        return VtGlyphs(ASCII, "ASCII only (no console font found)")
    return VtGlyphs(psf.chars, str(font), 8 if len(psf.glyphs) > 256 else 16)


def replacement(char: str, chars: frozenset[str]) -> str:
    """What to draw for a character the font lacks: same width, only glyphs it has."""
    width = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    if (plain := FALLBACK.get(char)) is not None and plain in chars:
        return plain
    name = unicodedata.name(char, "")
    across = any(word in name for word in ("HORIZONTAL", "LEFT", "RIGHT"))
    along = any(word in name for word in ("VERTICAL", "UP", "DOWN"))
    if "BOX DRAWINGS" in name:
        plain = "+" if across and along else "-" if across else "|"
    elif "BLOCK" in name and "FULL" not in name:
        plain = "|" if across else "_" if "LOWER" in name else "-"
    elif "BLOCK" in name or "SHADE" in name:
        plain = "#"
    else:
        plain = "?"
    return (plain if plain in chars else "?") * width


class Glyphs(dict[int, str]):
    """A str.translate table: characters the font has map to themselves (learnt lazily)."""

    def __init__(self, chars: frozenset[str]) -> None:
        super().__init__()
        self.chars = chars

    def __missing__(self, point: int) -> str:
        char = chr(point)
        self[point] = found = (
            char if char in self.chars or point < 0x20 else replacement(char, self.chars)
        )
        return found


def vt_colour(colour: Color | None, colours: int) -> Color | None:
    """The nearest of the VT's colours (terminal default stays the default)."""
    if colour is None or colour.is_default:
        return colour
    number = colour.downgrade(ColorSystem.STANDARD).number or 0
    return Color.from_ansi(number % colours)


class VtFilter(LineFilter):
    """Every rendered line with only the font's glyphs and the VT's colours."""

    def __init__(self, glyphs: VtGlyphs) -> None:
        super().__init__()
        self.glyphs = glyphs
        self.table = Glyphs(glyphs.chars)
        self.styles: dict[Style, Style] = {}

    def apply(self, segments: list[Segment], background: TextualColor) -> list[Segment]:
        """Map each segment's text and style."""
        return [
            seg if seg.control else Segment(seg.text.translate(self.table), self.style(seg.style))
            for seg in segments
        ]

    def style(self, style: Style | None) -> Style | None:
        """The style in VT colours, its text never the colour of its background."""
        if style is None:
            return None
        if (known := self.styles.get(style)) is not None:
            return known
        fg = vt_colour(style.color, self.glyphs.colours)
        bg = vt_colour(style.bgcolor, self.glyphs.colours)
        if fg is not None and bg is not None and fg.number == bg.number:
            fg = Color.from_ansi(0 if bg.number in LIGHT else 7)
        self.styles[style] = mapped = style + Style.from_color(fg, bg)
        return mapped
