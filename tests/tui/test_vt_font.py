"""The console font tools (tui/vt/font.py) and the VT filter (tui/vt/screen.py), one by one.

The PSF reader is checked against kbd's own psfxtable on the built font (an independent reader)
and on Debian's psf-unifont Unifont-APL8x16 (which, as issue 21 measured, has the half blocks
but not ✔). PSF layouts: kbd's src/psf.h and the kernel's Documentation (include/linux/font.h,
lib/fonts/ "psf" headers).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from rich.color import Color, ColorType
from rich.segment import Segment
from rich.style import Style
from textual.color import Color as TextualColor

from tui.errors import FontError
from tui.vt.font import GLYPH_SET, UNIFONT_HEX, build_psf2, read_hex, read_psf, read_set
from tui.vt.font import main as build_font
from tui.vt.screen import ASCII, VtFilter, VtGlyphs, replacement, running_font, vt_glyphs

IN_CI = os.environ.get("CI") == "true"
DEBIAN_UNIFONT = Path("/usr/share/consolefonts/Unifont-APL8x16.psf.gz")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not UNIFONT_HEX.exists():
        pytest.fail(f"{UNIFONT_HEX} missing: apt-get install unifont (.ci/apt-packages)")
    out = tmp_path_factory.mktemp("font") / "console.psf"
    assert build_font(["--out", str(out)]) == 0
    return out


def test_the_built_font_holds_the_set_and_reads_as_kbd_reads_it(built: Path) -> None:
    font = read_psf(built.read_bytes())
    wanted = {chr(p) for p in read_set(GLYPH_SET.read_text())}
    assert font.chars == wanted and len(font.glyphs) == 512
    if shutil.which("psfxtable") is None:
        if IN_CI:
            raise AssertionError("psfxtable missing (kbd is in .ci/apt-packages)")
        pytest.skip("kbd's psfxtable not installed")
    table = built.with_suffix(".tbl")
    subprocess.run(["psfxtable", "-i", str(built), "-ot", str(table)], check=True, timeout=30)
    theirs = {
        chr(int(code, 16)): int(index, 16)
        for index, rest in re.findall(r"^(0x[0-9a-f]+)\t(.*)$", table.read_text(), re.M)
        for code in re.findall(r"U\+([0-9a-f]+)", rest)
    }
    assert theirs == font.table


def test_wide_unifont_marks_are_narrowed_to_the_cell(built: Path) -> None:
    font = read_psf(built.read_bytes())
    check = font.bitmap("✔")
    assert len(check) == 16 and all(len(row) == 8 for row in check)
    assert sum(map(sum, check)) > 10  # drawn, not blank
    assert font.bitmap("▀")[0] == [True] * 8 and font.bitmap("▀")[15] == [False] * 8


def test_debians_unifont_psf_has_half_blocks_but_no_check_mark() -> None:
    if not DEBIAN_UNIFONT.exists():
        if IN_CI:
            raise AssertionError(f"{DEBIAN_UNIFONT} missing (psf-unifont, a unifont dependency)")
        pytest.skip("psf-unifont not installed")
    font = read_psf(DEBIAN_UNIFONT.read_bytes())  # gzip, PSF2
    assert {"▀", "▄", "█"} <= font.chars and "✔" not in font.chars


def test_psf1_with_a_unicode_table_and_a_sequence() -> None:
    glyphs = bytes(range(256)) * 16  # glyph i: every row is byte i
    table = b"".join(
        struct.pack("<3H", 0x41, 0x391, 0xFFFF) if i == 0x41
        else struct.pack("<4H", 0x45, 0xFFFE, 0x301, 0xFFFF) if i == 0x45
        else struct.pack("<2H", i, 0xFFFF)
        for i in range(256)
    )  # fmt: skip
    font = read_psf(b"\x36\x04\x02\x10" + bytes(b for i in range(256) for b in [i] * 16) + table)
    assert len(glyphs) == len(font.glyphs) * 16
    assert font.table["A"] == font.table["\u0391"] == 0x41 and "\u0301" not in font.table
    assert font.bitmap("A")[0] == [bool(0x41 >> (7 - x) & 1) for x in range(8)]


def test_bad_inputs_name_what_is_wrong() -> None:
    with pytest.raises(FontError, match="line 2"):
        read_set("U+0041\nU+zz\n")
    with pytest.raises(FontError, match=r"U\+2714"):
        build_psf2([0x41, 0x2714], {0x41: bytes(16)})
    with pytest.raises(FontError, match="at most 512"):
        build_psf2(list(range(513)), dict.fromkeys(range(513), bytes(16)))
    with pytest.raises(FontError, match="not a PSF"):
        read_psf(b"nothing")
    assert read_hex(["0041:" + "00" * 16, "0042:" + "ff" * 16], {0x41}) == {0x41: bytes(16)}


def test_missing_glyphs_become_plain_ones_of_the_same_width() -> None:
    chars = ASCII
    assert replacement("✔", chars) == "+"
    assert replacement("▔", chars) == "-"
    assert replacement("▊", chars) == "|"
    assert replacement("┼", chars) == "+"
    assert replacement("漢", chars) == "??"
    line = VtFilter(VtGlyphs(chars, "test")).apply([Segment("✔ node up ▀")], TextualColor(0, 0, 0))
    assert "".join(seg.text for seg in line) == "+ node up -"


def test_colours_become_vt_colours_and_text_never_vanishes() -> None:
    vt = VtFilter(VtGlyphs(ASCII, "test", colours=8))
    style = vt.style(Style(color="#0178d4", bgcolor="#1e1e1e"))
    assert style is not None and style.color is not None and style.bgcolor is not None
    assert style.color.type == style.bgcolor.type == ColorType.STANDARD
    assert style.color.number is not None and style.color.number < 8
    same = vt.style(Style(color="#202020", bgcolor="#101010"))  # both nearest to black
    assert same is not None and same.color == Color.from_ansi(7)
    assert same.bgcolor == Color.from_ansi(0)


def test_no_vt_and_no_font_means_ascii(tmp_path: Path) -> None:
    read, write = os.pipe()
    try:
        assert running_font(read) is None  # a pipe is not a VT
    finally:
        os.close(read)
        os.close(write)
    glyphs = vt_glyphs(tmp_path / "absent.psf", fd=None)
    assert glyphs.chars == ASCII and not glyphs.half_blocks


def test_the_running_vt_font_is_read_from_the_kernel() -> None:
    try:
        fd = os.open("/dev/tty0", os.O_RDONLY | os.O_NOCTTY)
    except OSError as exc:
        pytest.skip(f"no Linux VT here to read ({exc})")
    try:
        glyphs = running_font(fd)
    finally:
        os.close(fd)
    assert glyphs is not None, "GIO_UNIMAP on /dev/tty0 gave nothing"
    assert glyphs.chars >= ASCII and glyphs.colours in (8, 16)
