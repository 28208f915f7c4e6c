"""The text of a paper receipt, as the attendee's receipt page shows it, per locale and width.

Pure: a record in, lines out. The ESC/POS layer (escpos_job.py) prints these lines and the
receipt line's QR; golden tests (tests/printing/test_receipt_text.py) pin them per locale.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from appliance.api.locale import format_money
from appliance.domain.money import Money

COLUMNS = {58: 32, 80: 48}  # characters per line in font A: 384 and 576 dots, 12 dots a glyph
DOTS = {58: 384, 80: 576}  # printable dots per line

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "order": "Order", "total": "Total", "tender": "Paid with", "cash": "cash",
        "received": "Received", "change": "Change", "reference": "Reference",
        "receipt": "Receipt", "scan": "Scan to verify this receipt", "test": "Printer test",
        "width": "Paper", "reprint": "REPRINT",
    },
    "pt": {
        "order": "Pedido", "total": "Total", "tender": "Pago com", "cash": "dinheiro",
        "received": "Recebido", "change": "Troco", "reference": "Referencia",
        "receipt": "Recibo", "scan": "Escaneie para verificar o recibo", "test": "Teste da impressora",
        "width": "Papel", "reprint": "SEGUNDA VIA",
    },
}  # fmt: skip
TIME_FORMATS = {"en": "%Y-%m-%d %H:%M", "pt": "%d/%m/%Y %H:%M"}


@dataclass(frozen=True, slots=True)
class Line:
    """One order line as printed."""

    qty: int
    name: str
    total: int  # minor units


@dataclass(frozen=True, slots=True)
class PaperReceipt:
    """What a paper receipt says; amounts in minor units of `currency`."""

    stall: str
    number: int
    lines: tuple[Line, ...]
    total: int
    currency: str
    tender: str
    reference: str
    time: datetime  # aware, in the zone the stall shows
    seq: int | None = None
    receipt_line: str | None = None  # the signed line its QR carries
    received: int | None = None  # cash handed over, when the console knows it
    reprint: bool = False

    @property
    def change(self) -> int | None:
        """Cash change due, when the amount received is known."""
        return None if self.received is None else max(0, self.received - self.total)


def words(locale: str) -> dict[str, str]:
    """The receipt's words for a locale like pt-BR (by language), English if unknown."""
    return WORDS.get(locale.split("-")[0].lower(), WORDS["en"])


def columns(width_mm: int) -> int:
    """Characters per line for a paper width (58 or 80 mm)."""
    return COLUMNS[width_mm]


def two(left: str, right: str, width: int) -> str:
    """`left` and `right` on one line of `width`, the left cut short if both do not fit."""
    left, right = ascii_fold(left), ascii_fold(right)
    room = width - len(right) - 1
    if room < 1:
        return (left + " " + right)[:width]
    left = left if len(left) <= room else left[: max(1, room - 1)] + "~"
    return left + " " * (width - len(left) - len(right)) + right


def text_lines(receipt: PaperReceipt, locale: str, width_mm: int) -> list[str]:
    """The receipt's text lines (the QR goes after them), each at most the paper's columns."""
    width = columns(width_mm)
    w = words(locale)
    cur = receipt.currency

    def money(minor: int) -> str:
        return format_money(Money(minor, cur), locale)

    out = [ascii_fold(receipt.stall)[:width].center(width).rstrip()]
    if receipt.reprint:
        out.append(w["reprint"].center(width).rstrip())
    when = receipt.time.strftime(TIME_FORMATS.get(locale.split("-")[0].lower(), TIME_FORMATS["en"]))
    out.append(two(f"{w['order']} #{receipt.number}", when, width))
    out.append("-" * width)
    for line in receipt.lines:
        out.append(two(f"{line.qty} x {line.name}", money(line.total), width))
    out.append("-" * width)
    out.append(two(w["total"].upper(), money(receipt.total), width))
    tender = w["cash"] if receipt.tender == "cash" else receipt.tender.upper()
    out.append(two(w["tender"], tender, width))
    if receipt.received is not None and receipt.change is not None:
        out.append(two(w["received"], money(receipt.received), width))
        out.append(two(w["change"], money(receipt.change), width))
    out.append(two(w["reference"], receipt.reference, width))
    if receipt.seq is not None:
        out.append(two(w["receipt"], f"#{receipt.seq}", width))
    if receipt.receipt_line:
        out.append(ascii_fold(w["scan"])[:width])
    return out


FOLD = str.maketrans(
    {"\u2014": "-", "\u2013": "-", "\u00d7": "x", "€": "EUR ", "£": "GBP", "₹": "Rs", "฿": "THB"}
)


def ascii_fold(text: str) -> str:
    """Text a cheap printer's code page can show: accents dropped, odd symbols spelt out."""
    folded = unicodedata.normalize("NFKD", text.translate(FOLD))
    return "".join(c for c in folded if c.isascii() and (c.isprintable() or c == " "))
