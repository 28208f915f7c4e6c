"""The console as the box's own screen shows it: Linux VT, the unit's console font, its colours.

The font is built the way install/install-pi.sh builds it (tui.vt.font from Debian's unifont.hex)
and read back from its PSF file. Every screen is walked in VT mode; every character on the cell
grid must be in the font's unicode table and every colour one of the VT's 16. The pay step's QR
is then drawn as pixels with the font's own glyph bitmaps at the grid of each screen the box
ships with, and must decode (zxing-cpp) to the order's payload.

VT palette: Linux's default colour map, drivers/tty/vt/vt.c (default_red/default_grn/default_blu),
https://github.com/torvalds/linux/blob/master/drivers/tty/vt/vt.c
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from console_support import (
    console,
    paired_settings,
    start_stall,
    until,
    until_shown,
)
from PIL import Image
from rich.color import Color, ColorType
from rich.segment import Segment
from test_console_snapshots import walk
from textual._compositor import LayoutUpdate
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import StallboxConsole
from tui.screens.connect import KeyChangedScreen
from tui.screens.pay import PayScreen
from tui.screens.tender import TenderScreen
from tui.vt.font import UNIFONT_HEX, PsfFont, read_psf
from tui.vt.font import main as build_font
from tui.vt.screen import ASCII, VtGlyphs, vt_glyphs
from tui.widgets.qr import QrCode, qr_lines

pytestmark = pytest.mark.anyio

PALETTE = [  # vt.c default_red/grn/blu, colours 0..15
    (0x00, 0x00, 0x00), (0xAA, 0x00, 0x00), (0x00, 0xAA, 0x00), (0xAA, 0x55, 0x00),
    (0x00, 0x00, 0xAA), (0xAA, 0x00, 0xAA), (0x00, 0xAA, 0xAA), (0xAA, 0xAA, 0xAA),
    (0x55, 0x55, 0x55), (0xFF, 0x55, 0x55), (0x55, 0xFF, 0x55), (0xFF, 0xFF, 0x55),
    (0x55, 0x55, 0xFF), (0xFF, 0x55, 0xFF), (0x55, 0xFF, 0xFF), (0xFF, 0xFF, 0xFF),
]  # fmt: skip
SCREENS = {"800x480": (800, 480), "1024x600": (1024, 600), "1280x720": (1280, 720)}


@pytest.fixture(scope="module")
def font_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The console font, built as the install script builds it."""
    if not UNIFONT_HEX.exists():
        pytest.fail(f"{UNIFONT_HEX} missing: apt-get install unifont (.ci/apt-packages)")
    out = tmp_path_factory.mktemp("font") / "stallbox-console.psf"
    assert build_font(["--out", str(out)]) == 0
    return out


def vt_console(node: Any, tmp_path: Path, font_file: Path) -> StallboxConsole:
    """A paired console in VT mode with the unit's font."""
    settings = paired_settings(node, tmp_path / "console.json")
    return console(dataclasses.replace(settings, vt=vt_glyphs(font_file)))


def cells(app: StallboxConsole) -> list[list[Segment]]:
    """The screen as drawn (dialogs over their screens): one list of segments a line."""
    update = app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens, simplify=True
    )
    assert isinstance(update, LayoutUpdate)
    return [[seg for strip in line for seg in strip] for line in update.strips]


def vt_number(colour: Color | None, default: int) -> int:
    """The VT colour number a segment colour is, or fail."""
    if colour is None or colour.type == ColorType.DEFAULT:
        return default
    assert colour.type == ColorType.STANDARD, f"{colour.name} is not one of the 16 VT colours"
    assert colour.number is not None and 0 <= colour.number < 16
    return colour.number


def check_drawn(app: StallboxConsole, font: PsfFont, name: str) -> None:
    """Every character drawn is in the font; every colour is a VT colour."""
    missing: set[str] = set()
    for line in cells(app):
        for seg in line:
            if seg.control:
                continue
            missing |= set(seg.text) - font.chars
            if seg.style is not None:
                vt_number(seg.style.color, 7)
                vt_number(seg.style.bgcolor, 0)
    assert not missing, f"{name}: drawn but not in the font: {''.join(sorted(missing))!r}"


def raster(app: StallboxConsole, font: PsfFont) -> Image.Image:
    """The screen as the VT draws it: each cell its glyph's bitmap in its colours."""
    lines = cells(app)
    width, height = app.size
    image = Image.new("RGB", (width * font.width, height * font.height))
    pixels = image.load()
    assert pixels is not None
    for y, line in enumerate(lines):
        x = 0
        for seg in line:
            if seg.control:
                continue
            style = seg.style
            fg = vt_number(style.color if style else None, 7)
            bg = vt_number(style.bgcolor if style else None, 0)
            if style is not None and style.reverse:
                fg, bg = bg, fg
            for char in seg.text:
                for row, bits in enumerate(font.bitmap(char)):
                    for col, on in enumerate(bits):
                        pixels[x * font.width + col, y * font.height + row] = PALETTE[
                            fg if on else bg
                        ]
                x += 1
    return image


def check_focus_by_shape(app: StallboxConsole, name: str) -> None:
    """Without colour, the focused input is the one with heavy lines; no other has them."""
    lines = cells(app)
    for field in app.screen.query(Input):
        if not field.display or field.region.height == 0:
            continue
        region = field.region
        top = "".join(seg.text for seg in lines[region.y] if not seg.control)
        heavy = "━" in top[region.x : region.right]
        assert heavy == field.has_focus, f"{name}: #{field.id} focus={field.has_focus}: {top!r}"


async def check(pilot: Pilot[Any], name: str, font: PsfFont) -> None:
    """Let the screen settle, then check what it draws."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    app = pilot.app
    assert isinstance(app, StallboxConsole)
    check_drawn(app, font, name)
    check_focus_by_shape(app, name)


async def test_every_screen_in_the_font_and_the_vt_colours(tmp_path: Path, font_file: Path) -> None:
    font = read_psf(font_file.read_bytes())
    node = start_stall(tmp_path / "state")
    try:
        app = vt_console(node, tmp_path, font_file)
        async with app.run_test(size=(100, 30)) as pilot:

            async def look(pilot: Pilot[Any], name: str) -> None:
                await check(pilot, name, font)

            await walk(pilot, app, "vt", look)
            app.push_screen(KeyChangedScreen("a" * 64, "b" * 64))
            await until(pilot, lambda: isinstance(app.screen, KeyChangedScreen), "the warning")
            await look(pilot, "key_changed_vt")
    finally:
        node.stop()


@pytest.mark.parametrize("screen", list(SCREENS), ids=list(SCREENS))
async def test_pay_qr_drawn_with_the_font_decodes(
    screen: str, tmp_path: Path, font_file: Path
) -> None:
    font = read_psf(font_file.read_bytes())
    pixels_w, pixels_h = SCREENS[screen]
    grid = (pixels_w // font.width, pixels_h // font.height)
    node = start_stall(tmp_path / "state")
    try:
        app = vt_console(node, tmp_path, font_file)
        async with app.run_test(size=grid) as pilot:
            await until(pilot, lambda: app.client is not None and app.link.up, "the node")
            await pilot.press("2", "2", "1", "enter")
            await until(pilot, lambda: isinstance(app.screen, TenderScreen), "the tender dialog")
            await pilot.press("1")
            await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
            qr = app.screen.query_one("#pay-qr", QrCode)
            await until(pilot, lambda: qr.lines != () and qr.fits, "the pay QR drawn whole")
            await pilot.pause()
            image = raster(app, font)
            assert image.size == (grid[0] * font.width, grid[1] * font.height)
            found = [code.text for code in zxingcpp.read_barcodes(image)]
            assert found == [qr.payload], f"{screen}: decoded {found}"
            screen_obj = app.screen
            assert isinstance(screen_obj, PayScreen) and screen_obj.tendered is not None
            assert qr.payload == screen_obj.tendered.payload
    finally:
        node.stop()


def test_full_block_fallback_qr_drawn_with_the_font_decodes(font_file: Path) -> None:
    """A font without half blocks: two full-block cells a module, square on 8x16, still reads."""
    font = read_psf(font_file.read_bytes())
    payload = "00020126580014br.gov.bcb.pix0136stallbox-fallback-test520400005303986"
    lines = qr_lines(payload, "full")
    assert {char for line in lines for char in line} <= {"█", " "}
    image = Image.new("RGB", (len(lines[0]) * font.width, len(lines) * font.height))
    pixels = image.load()
    assert pixels is not None
    for y, line in enumerate(lines):
        for x, char in enumerate(line):
            for row, bits in enumerate(font.bitmap(char)):
                for col, on in enumerate(bits):  # black on the VT's white (7), as QR_STYLE
                    pixels[x * 8 + col, y * 16 + row] = PALETTE[0 if on else 7]
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [payload]
    assert qr_lines(payload, "none") == ()


async def test_without_the_font_the_pay_step_says_where_to_scan(tmp_path: Path) -> None:
    """The unit's font did not load and the running one has no half blocks: no broken QR."""
    stock = VtGlyphs(ASCII | {"█"}, "a stock font without half blocks", colours=16)
    node = start_stall(tmp_path / "state")
    try:
        settings = paired_settings(node, tmp_path / "console.json")
        app = console(dataclasses.replace(settings, vt=stock))
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: app.client is not None and app.link.up, "the node")
            await pilot.press("2", "2", "1", "enter")
            await until(pilot, lambda: isinstance(app.screen, TenderScreen), "the tender dialog")
            await pilot.press("1")
            await until(pilot, lambda: isinstance(app.screen, PayScreen), "the pay screen")
            qr = app.screen.query_one("#pay-qr", QrCode)
            await until(pilot, lambda: qr.lines != (), "the pay QR built")
            await pilot.pause()
            assert set(qr.lines[0]) <= {"█", " "} and not qr.fits  # full blocks: too big here
            await until_shown(pilot, "scan the customer display")
            drawn = {c for line in cells(app) for seg in line if not seg.control for c in seg.text}
            assert drawn <= stock.chars, "".join(sorted(drawn - stock.chars))
    finally:
        node.stop()
