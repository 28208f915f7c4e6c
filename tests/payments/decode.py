"""Decoding rendered codes back with zxing-cpp (code nobody here wrote)."""

from __future__ import annotations

import io
import re

import cairosvg
import zxingcpp
from PIL import Image, ImageDraw

from appliance.payments.render import RenderedCode

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LEVELS = "LMQH"


def decode_image(image: Image.Image) -> tuple[str, str]:
    """Return (text, error-correction level) of the one QR code in the image."""
    found = [b for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    return found[0].text, found[0].ec_level


def decode_png(data: bytes) -> tuple[str, str]:
    return decode_image(Image.open(io.BytesIO(data)))


def decode_svg(svg: str, size: int) -> tuple[str, str]:
    """Rasterise the SVG with cairosvg, then decode."""
    png = cairosvg.svg2png(bytestring=svg.encode(), output_width=size * 6, output_height=size * 6)
    return decode_png(png)


def rasterise_terminal(text: str, cell: int = 6) -> Image.Image:
    """Draw half-block text as pixels: each character is one module wide and two tall."""
    lines = [ANSI.sub("", line) for line in text.split("\n")]
    width = max(len(line) for line in lines)
    image = Image.new("L", (width * cell, len(lines) * 2 * cell), 255)
    draw = ImageDraw.Draw(image)
    halves = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            top, bottom = halves[char]
            x, y = col * cell, row * 2 * cell
            if top:
                draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=0)
            if bottom:
                draw.rectangle([x, y + cell, x + cell - 1, y + 2 * cell - 1], fill=0)
    return image


def decode_all(code: RenderedCode) -> list[tuple[str, str]]:
    """Decode the PNG, the rasterised SVG and the rasterised terminal rendering."""
    return [
        decode_png(code.png()),
        decode_svg(code.svg, code.size),
        decode_image(rasterise_terminal(code.terminal())),
    ]


def at_least_m(level: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index("M")
