"""A paper receipt as ESC/POS commands, written through python-escpos onto any of its printers.

The receipt line's QR is sent as a raster image (GS v 0, python-escpos's `bitImageRaster`),
never with the native QR command: cheap 58 mm printers lack it (GS ( k), and a raster prints
the same on all of them. The code is drawn at whole dots per module, as wide as the paper
allows, with its quiet zone. Cutting follows the printer's profile; the drawer kick goes out
only for a cash sale printed the first time.
"""

from __future__ import annotations

from dataclasses import dataclass

from escpos.escpos import Escpos
from PIL import Image

from appliance.payments.render import make_matrix
from appliance.printing.receipt_text import DOTS, PaperReceipt, text_lines, words

DRAWER_PIN = 2  # the kick most drawers wire to (pin 2 of the RJ-11/12 socket)
PROFILES = {58: "POS-5890", 80: "TM-T20II"}  # python-escpos profiles with the right dot width


@dataclass(frozen=True, slots=True)
class PaperSettings:
    """How receipts come out of this stall's printer (from `[printer]` in the config)."""

    width_mm: int = 58
    locale: str = "pt-BR"
    cut: bool = True
    drawer: bool = True
    profile: str = ""  # python-escpos profile; "" picks one by width

    @property
    def profile_name(self) -> str:
        """The python-escpos profile to open the printer with."""
        return self.profile or PROFILES[self.width_mm]


def qr_raster(text: str, width_mm: int) -> Image.Image:
    """`text` as a QR image, whole dots per module, as wide as the paper's printable dots."""
    matrix, _version = make_matrix(text, "M")
    n = len(matrix)
    scale = max(1, DOTS[width_mm] // n)
    image = Image.new("1", (n, n), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    return image.resize((n * scale, n * scale), Image.Resampling.NEAREST)


def write_receipt(printer: Escpos, receipt: PaperReceipt, paper: PaperSettings) -> None:
    """Send one receipt: header, lines, totals, the QR as a raster image, a cut, the drawer."""
    lines = text_lines(receipt, paper.locale, paper.width_mm)
    printer.set(align="center", bold=True, double_height=True, double_width=False)
    printer.textln(lines[0])
    printer.set(align="left", bold=False, normal_textsize=True)
    for line in lines[1:]:
        printer.textln(line)
    if receipt.receipt_line:
        printer.image(qr_raster(receipt.receipt_line, paper.width_mm), impl="bitImageRaster")
    finish(printer, paper, kick=receipt.tender == "cash" and not receipt.reprint)


def write_test_page(printer: Escpos, paper: PaperSettings, stall: str, device: str) -> None:
    """A test page: the stall, the paper width and device, a ruler of columns and a QR."""
    w = words(paper.locale)
    cols = DOTS[paper.width_mm] // 12
    printer.set(align="center", bold=True)
    printer.textln(stall[:cols])
    printer.set(align="left", bold=False, normal_textsize=True)
    printer.textln(w["test"])
    printer.textln(f"{w['width']}: {paper.width_mm} mm, {cols} col")
    printer.textln(device[:cols])
    printer.textln(("1234567890" * 5)[:cols])
    printer.image(qr_raster(f"stallbox print-test {paper.width_mm}mm", paper.width_mm))
    finish(printer, paper, kick=False)


def finish(printer: Escpos, paper: PaperSettings, kick: bool) -> None:
    """Feed and cut where the profile has a cutter; kick the drawer when asked and configured."""
    if paper.cut and printer.profile.supports("paperFullCut"):
        printer.cut()
    else:
        printer.print_and_feed(4)
    if kick and paper.drawer:
        printer.cashdraw(DRAWER_PIN)
