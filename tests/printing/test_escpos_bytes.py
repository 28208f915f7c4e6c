"""A receipt's ESC/POS bytes, read back: its text, and its QR rebuilt from GS v 0 decodes.

The receipt line is vector 2 of docs/receipt-format.md (a sale of 37.00 BRL, seq 1).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import zxingcpp
from escpos_parse import parse

from appliance.printing.escpos_job import PaperSettings
from appliance.printing.queue import render, render_test_page
from appliance.printing.receipt_text import DOTS, Line, PaperReceipt

LINE = (
    "SR1;eh7ddx5bks;eh7ddx5bks;0;1;20261120T184207Z;sale;BRL;3700;Nnkp65cVyoKro53liIGSfg;"
    "xsCgq5eZ4IQ-Lf-t1IpjNA;1D;_hiWo4M5A9yXzxtT-C3Rg-qhM_ZT045rrMVJZrfFQ2M9AKC_qoNRve2cKr4aJ6"
    "-QhTpprQX2dvo8BC7LweOnAw"
)
CUT = b"\x1dV"
KICK = b"\x1bp"


def sale(tender: str = "cash", reprint: bool = False) -> PaperReceipt:
    """The vector's sale as a paper receipt."""
    return PaperReceipt(
        stall="Barraca da Ana", number=1,
        lines=(Line(1, "Caldo de cana", 1800), Line(2, "Pastel de queijo", 1900)),
        total=3700, currency="BRL", tender=tender, reference="1D",
        time=datetime(2026, 11, 20, 18, 42, 7, tzinfo=UTC), seq=1, receipt_line=LINE,
        received=5000 if tender == "cash" else None, reprint=reprint,
    )  # fmt: skip


@pytest.mark.parametrize("width", [58, 80])
def test_receipt_qr_decodes_from_the_raster(width: int) -> None:
    data = render(sale(), PaperSettings(width_mm=width, locale="pt-BR"))
    parsed = parse(data)
    assert len(parsed.images) == 1 and parsed.commands.count(b"\x1dv0\x00") == 1
    image = parsed.images[0]
    assert image.width <= DOTS[width]
    assert [code.text for code in zxingcpp.read_barcodes(image)] == [LINE]
    text = "\n".join(parsed.text)
    assert "Pastel de queijo" in text and "R$ 37,00" in text and "Troco" in text


def test_cut_where_the_profile_has_a_cutter_and_drawer_only_for_first_cash_print() -> None:
    cash80 = render(sale(), PaperSettings(width_mm=80))
    assert CUT in cash80 and KICK in cash80
    assert CUT not in render(sale(), PaperSettings(width_mm=58))  # POS-5890: no cutter
    assert KICK not in render(sale("pix"), PaperSettings(width_mm=80))
    assert KICK not in render(sale(reprint=True), PaperSettings(width_mm=80))
    assert KICK not in render(sale(), PaperSettings(width_mm=80, drawer=False))
    assert CUT not in render(sale(), PaperSettings(width_mm=80, cut=False))


@pytest.mark.parametrize("width", [58, 80])
def test_test_page_prints_a_decodable_code(width: int) -> None:
    parsed = parse(render_test_page(PaperSettings(width_mm=width), "Stall", "usb:04b8:0202"))
    codes = [c.text for c in zxingcpp.read_barcodes(parsed.images[0])]
    assert codes == [f"stallbox print-test {width}mm"]
