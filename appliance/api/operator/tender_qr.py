"""The payment code's modules in the tender's answer, for a console that says what fits.

A console draws the code of the payload the tender returns. Built here, at tender time, the
console only draws it: it needs no QR encoder (qrcode and PIL stay out of its memory and its
start), and the node already holds the payload. The console names, in `?qr=`, the largest side
(modules, quiet zone included) each of its screen areas can show, in the order it prefers them;
the node answers the code at the highest level the rail's standard allows in the first area
that holds it (appliance/payments/fit.py). A query, not a body field: an older node ignores it
and answers without `qr`, where a body field would be refused as unknown; an older console
ignores the new field.
"""

from __future__ import annotations

import re

import msgspec

from appliance.api.schemas import QrOut
from appliance.payments.fit import fit_symbol
from appliance.payments.matrix import Matrix

SIDES = re.compile(r"[0-9]{1,3}(,[0-9]{1,3}){0,3}")  # up to four areas, each < 1000 modules


def asked_sides(query: str | None) -> tuple[int, ...] | None:
    """`?qr=74,80` as sides; None when not asked; a ValidationError naming `qr` when bad."""
    if query is None:
        return None
    if not SIDES.fullmatch(query):
        raise msgspec.ValidationError(
            "must be 1-4 comma-separated sides in modules (0-999) - at `$.qr`"
        )
    return tuple(int(side) for side in query.split(","))


def hex_rows(matrix: Matrix) -> list[str]:
    """Each row's modules as hex, dark = 1, first module the high bit, 0-padded to 4 bits."""
    digits = (len(matrix) + 3) // 4
    pad = "0" * (digits * 4 - len(matrix))
    return [
        format(int("".join("1" if dark else "0" for dark in row) + pad, 2), f"0{digits}x")
        for row in matrix
    ]


def qr_out(payload: str, sides: tuple[int, ...]) -> QrOut:
    """The payload's code for the first side that holds it (run it off the event loop)."""
    fit, symbol = fit_symbol(payload, sides)
    level = symbol.level
    assert level in ("L", "M", "Q", "H")
    return QrOut(level, fit, len(symbol.matrix), hex_rows(symbol.matrix))  # type: ignore[arg-type]
