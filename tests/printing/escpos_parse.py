"""Reading ESC/POS bytes back: the printed text and the GS v 0 raster images, rebuilt.

An independent reader for the tests: it knows only the command layouts from Epson's ESC/POS
reference ("GS v 0: print raster bit image": GS v 0 m xL xH yL yH d1...dk, k = (xL + xH*256)
* (yL + yH*256), a set bit is a printed dot, most significant bit leftmost).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

ESC, GS = 0x1B, 0x1D
# Fixed-length commands python-escpos emits, by (prefix byte, command byte): argument bytes.
ARGS = {
    (ESC, ord("@")): 0, (ESC, ord("!")): 1, (ESC, ord("a")): 1, (ESC, ord("E")): 1,
    (ESC, ord("-")): 1, (ESC, ord("M")): 1, (ESC, ord("G")): 1, (ESC, ord("t")): 1,
    (ESC, ord("d")): 1, (ESC, ord("2")): 0, (ESC, ord("3")): 1, (ESC, ord("{")): 1,
    (ESC, ord("p")): 3, (GS, ord("!")): 1, (GS, ord("B")): 1, (GS, ord("b")): 1,
    (ESC, ord("V")): 1, (ESC, ord("J")): 1,
}  # fmt: skip


@dataclass
class Parsed:
    """What a job holds: its text lines, raster images, and the commands it used."""

    text: list[str] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)
    commands: list[bytes] = field(default_factory=list)


def parse(data: bytes) -> Parsed:
    """Split a job into text lines, GS v 0 images and other commands."""
    out, i, line = Parsed(), 0, bytearray()
    while i < len(data):
        b = data[i]
        if b == 0x0A:
            out.text.append(line.decode("cp437"))
            line = bytearray()
            i += 1
        elif b == GS and data[i + 1 : i + 3] == b"v0":
            _density, xl, xh, yl, yh = data[i + 3 : i + 8]
            width_bytes, height = xl + 256 * xh, yl + 256 * yh
            raster = data[i + 8 : i + 8 + width_bytes * height]
            out.images.append(rebuild(raster, width_bytes, height))
            out.commands.append(data[i : i + 4])
            i += 8 + width_bytes * height
        elif b == GS and data[i + 1] == ord("V"):  # cut: GS V m, or GS V m n for m 65/66
            size = 4 if data[i + 2] in (65, 66) else 3
            out.commands.append(data[i : i + size])
            i += size
        elif b in (ESC, GS):
            size = 2 + ARGS[(b, data[i + 1])]
            out.commands.append(data[i : i + size])
            i += size
        else:
            line.append(b)
            i += 1
    if line:
        out.text.append(line.decode("cp437"))
    return out


def rebuild(raster: bytes, width_bytes: int, height: int) -> Image.Image:
    """A GS v 0 raster as a white image with black dots, upscaled for a decoder."""
    image = Image.new("L", (width_bytes * 8, height), 255)
    pixels = image.load()
    assert pixels is not None
    for y in range(height):
        for xb in range(width_bytes):
            byte = raster[y * width_bytes + xb]
            for bit in range(8):
                if byte & (0x80 >> bit):
                    pixels[xb * 8 + bit, y] = 0
    return image
