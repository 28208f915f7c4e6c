"""The attendee forms' fields a handler checks itself: quantities and the note.

A form the box's own pages send has every item's quantity blank or a whole number 0-20 and a
claim's 1-20; anything else was made by hand, and is refused whole (422 naming the field, a
short page as the body limits' answers) rather than read as something the client did not ask
for. The note reaches the vendor's console, so escapes and bidi controls are taken out.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl

from starlette.responses import HTMLResponse, Response

MAX_QTY = 20
NOTE_CHARS = 200
MAX_FIELDS = 1000  # a menu's form sends every item; the 16 KiB body bounds the work anyway
_QTY = re.compile(r"[0-9]{1,3}")  # ASCII digits, at most three: no huge ints reach int()
_HIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # bidi too
_NO_STORE = {"Cache-Control": "no-store"}


class BadField(ValueError):
    """A form field holds what no page of the box sends (answered 422 naming it; nothing stored)."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field


def bad_field(exc: BadField) -> Response:
    """The 422 page naming the field."""
    text = html.escape(str(exc)[:200])
    return HTMLResponse(f"<!doctype html><title>422</title><p>{text}</p>\n", 422, _NO_STORE)


def form_fields(text: str) -> list[tuple[str, str]]:
    """A urlencoded form's fields in order; BadField past MAX_FIELDS (read as empty, a claim of 1
    was held and a big menu's order was refused as empty)."""
    try:
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise BadField("form", f"at most {MAX_FIELDS} fields") from None


def quantity(field: str, value: str, least: int = 0) -> int | None:
    """A quantity field's value: None when blank, else `least`-MAX_QTY; BadField otherwise."""
    if not value.strip():
        return None
    if _QTY.fullmatch(value.strip()) and least <= int(value) <= MAX_QTY:
        return int(value)
    raise BadField(field, f"a whole number from {least} to {MAX_QTY}")


def without_hidden(text: str) -> str:
    """`text` without control characters but the newline (a pass's holder is the note's first
    line, services/pass_sales.py), and without bidi overrides or isolates."""
    return _HIDDEN.sub("", text)
