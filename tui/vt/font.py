"""The console's font: a PSF reader, and the PSF2 builder the install script runs.

The Linux VT draws only the glyphs of its loaded font (at most 512); a character outside the
font shows as a replacement box. Stallbox therefore ships the list of glyphs it draws
(glyphs.set, beside this file) and builds its own console font from Debian's GNU Unifont source
(/usr/share/unifont/unifont.hex, package `unifont`) at install time; 16-pixel-wide Unifont glyphs
(✔ ✖ ⚠ ⏎) are narrowed to the 8x16 cell by OR-ing pairs of columns. The same reader serves the
console's fallback (what the running font holds) and the tests (every drawn character is in the
font; the QR drawn with the font's own bitmaps decodes).

    python -m tui.vt.font [--hex unifont.hex] [--set glyphs.set] --out stallbox-console.psf
"""

from __future__ import annotations

import argparse
import gzip
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from tui.errors import FontError

GLYPH_SET = Path(__file__).with_name("glyphs.set")
UNIFONT_HEX = Path("/usr/share/unifont/unifont.hex")
PSF1_MAGIC = b"\x36\x04"
PSF2_MAGIC = b"\x72\xb5\x4a\x86"
PSF2_HAS_TABLE = 1
MAX_GLYPHS = 512
WIDTH, HEIGHT = 8, 16


class Exit(IntEnum):
    """Exit codes of `python -m tui.vt.font`."""

    OK = 0
    BAD_INPUT = 2


@dataclass(frozen=True, slots=True)
class PsfFont:
    """A console font: glyph bitmaps (rows of bytes) and which characters each one draws."""

    width: int
    height: int
    glyphs: tuple[bytes, ...]
    table: dict[str, int]  # character -> glyph index (the font's unicode table)

    @property
    def chars(self) -> frozenset[str]:
        """Every character the font can draw."""
        return frozenset(self.table)

    def bitmap(self, char: str) -> list[list[bool]]:
        """The glyph of `char` as rows of pixels (True = foreground)."""
        glyph = self.glyphs[self.table[char]]
        stride = (self.width + 7) // 8
        rows = []
        for y in range(self.height):
            row = int.from_bytes(glyph[y * stride : (y + 1) * stride], "big")
            rows.append([bool(row >> (stride * 8 - 1 - x) & 1) for x in range(self.width)])
        return rows


def read_psf(data: bytes) -> PsfFont:
    """Parse a PSF1 or PSF2 font (gzip-compressed or not) with its unicode table."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:4] == PSF2_MAGIC:
        return _read_psf2(data)
    if data[:2] == PSF1_MAGIC:
        return _read_psf1(data)
    raise FontError("not a PSF font (no PSF1 or PSF2 magic)")


def _read_psf2(data: bytes) -> PsfFont:
    _, _, header, flags, count, size, height, width = struct.unpack_from("<8I", data)
    end = header + count * size
    if len(data) < end or size != height * ((width + 7) // 8):
        raise FontError("PSF2: truncated or inconsistent header")
    glyphs = tuple(data[header + i * size : header + (i + 1) * size] for i in range(count))
    table: dict[str, int] = {}
    if flags & PSF2_HAS_TABLE:
        for index, entry in enumerate(data[end:].split(b"\xff")[:count]):
            singles = entry.split(b"\xfe")[0]  # sequences (after 0xFE) are not single chars
            for char in singles.decode("utf-8"):
                table.setdefault(char, index)
    return PsfFont(width, height, glyphs, table)


def _read_psf1(data: bytes) -> PsfFont:
    mode, height = data[2], data[3]
    count = 512 if mode & 1 else 256
    end = 4 + count * height
    if len(data) < end:
        raise FontError("PSF1: truncated")
    glyphs = tuple(data[4 + i * height : 4 + (i + 1) * height] for i in range(count))
    table: dict[str, int] = {}
    if mode & 6:
        words = struct.unpack_from(f"<{(len(data) - end) // 2}H", data, end)
        index, in_sequence = 0, False
        for word in words:
            if word == 0xFFFF:
                index, in_sequence = index + 1, False
            elif word == 0xFFFE:
                in_sequence = True
            elif not in_sequence and index < count:
                table.setdefault(chr(word), index)
    return PsfFont(8, height, glyphs, table)


def read_set(text: str) -> list[int]:
    """Code points of a glyph-set file: `U+XXXX` or `U+XXXX..U+YYYY`, `#` comments."""
    points: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        for token in line.split("#")[0].split():
            low, _, high = token.partition("..")
            try:
                first = int(low.removeprefix("U+"), 16)
                last = int(high.removeprefix("U+"), 16) if high else first
            except ValueError:
                raise FontError(f"glyph set line {number}: {token!r} is not U+XXXX") from None
            points.extend(p for p in range(first, last + 1) if p not in points)
    return points


def read_hex(lines: Iterable[str], wanted: set[int]) -> dict[int, bytes]:
    """The 8x16 bitmaps of the wanted code points from Unifont's .hex lines (16 wide: narrowed)."""
    found: dict[int, bytes] = {}
    for line in lines:
        point, _, digits = line.strip().partition(":")
        if not digits or int(point, 16) not in wanted:
            continue
        raw = bytes.fromhex(digits)
        if len(raw) == 32:  # 16x16: OR each pair of columns into one
            raw = bytes(_narrow(int.from_bytes(raw[i : i + 2], "big")) for i in range(0, 32, 2))
        if len(raw) != HEIGHT:
            raise FontError(f"unifont U+{int(point, 16):04X}: {len(raw)} bytes, not 8x16 or 16x16")
        found[int(point, 16)] = raw
    return found


def _narrow(row: int) -> int:
    return sum(1 << (7 - x) for x in range(8) if row >> (14 - 2 * x) & 3)


def build_psf2(points: Sequence[int], bitmaps: dict[int, bytes]) -> bytes:
    """A 512-slot PSF2 font (8x16) whose glyph i draws points[i], with its unicode table."""
    missing = [f"U+{p:04X}" for p in points if p not in bitmaps]
    if missing:
        raise FontError(f"not in the font source: {' '.join(missing)}")
    if len(points) > MAX_GLYPHS:
        raise FontError(f"{len(points)} glyphs: the Linux console holds at most {MAX_GLYPHS}")
    count = 256 if len(points) <= 256 else MAX_GLYPHS  # the kernel takes 256 or 512
    header = struct.pack("<8I", 0x864AB572, 0, 32, PSF2_HAS_TABLE, count, HEIGHT, HEIGHT, WIDTH)
    glyphs = b"".join(bitmaps[p] for p in points) + bytes(HEIGHT * (count - len(points)))
    table = b"".join(chr(p).encode() + b"\xff" for p in points) + b"\xff" * (count - len(points))
    return header + glyphs + table


def main(argv: Sequence[str] | None = None) -> int:
    """Build the console font from a Unifont .hex source and a glyph set."""
    parser = argparse.ArgumentParser(prog="python -m tui.vt.font", description=main.__doc__)
    parser.add_argument("--hex", type=Path, default=UNIFONT_HEX, help="Unifont .hex source")
    parser.add_argument("--set", type=Path, default=GLYPH_SET, help="glyph set file")
    parser.add_argument("--out", type=Path, required=True, help="PSF2 file to write")
    args = parser.parse_args(argv)
    try:
        points = read_set(args.set.read_text(encoding="utf-8"))
        with args.hex.open(encoding="ascii") as source:
            font = build_psf2(points, read_hex(source, set(points)))
        args.out.write_bytes(font)
    except (OSError, FontError) as exc:
        print(f"console font: {exc}", file=sys.stderr)
        return Exit.BAD_INPUT
    print(f"console font: {len(points)} glyphs, 8x16 -> {args.out}")
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
