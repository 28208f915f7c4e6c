"""Golden text lines of a paper receipt per locale and paper width (the QR is tested apart)."""

from __future__ import annotations

import dataclasses

from test_escpos_bytes import sale

from appliance.printing.receipt_text import Line, columns, text_lines

PT_58 = [
    "         Barraca da Ana",
    "Pedido #1       20/11/2026 18:42",
    "--------------------------------",
    "1 x Caldo de cana       R$ 18,00",
    "2 x Pastel de queijo    R$ 19,00",
    "--------------------------------",
    "TOTAL                   R$ 37,00",
    "Pago com                dinheiro",
    "Recebido                R$ 50,00",
    "Troco                   R$ 13,00",
    "Referencia                    1D",
    "Recibo                        #1",
    "Escaneie para verificar o recibo",
]
EN_80 = [
    "                 Barraca da Ana",
    "Order #1                        2026-11-20 18:42",
    "------------------------------------------------",
    "1 x Caldo de cana                      EUR 18.00",
    "2 x Pastel de queijo                   EUR 19.00",
    "------------------------------------------------",
    "TOTAL                                  EUR 37.00",
    "Paid with                                    PIX",
    "Reference                                     1D",
    "Receipt                                       #1",
    "Scan to verify this receipt",
]


def test_portuguese_58mm_cash_with_change() -> None:
    assert text_lines(sale(), "pt-BR", 58) == PT_58


def test_english_80mm_pix_in_euros() -> None:
    receipt = dataclasses.replace(sale("pix"), currency="EUR")
    assert text_lines(receipt, "en-US", 80) == EN_80


def test_reprint_is_marked_and_long_names_are_cut_to_the_paper() -> None:
    long = "Pastel de queijo com goiabada e catupiry extra"
    receipt = dataclasses.replace(sale(reprint=True), lines=(Line(12, long, 123400),))
    lines = text_lines(receipt, "pt-BR", 58)
    assert lines[1].strip() == "SEGUNDA VIA"
    assert all(len(line) <= columns(58) for line in lines)
    assert lines[4].endswith("R$ 1.234,00") and lines[4].startswith("12 x Pastel")
    assert "~" in lines[4] and len(lines[4]) == 32
