"""Wire types of the console's pass routes (appliance/api/operator/pass_reader.py), shared with tui/."""

from __future__ import annotations

from typing import Annotated

import msgspec

from appliance.passes.text import MAX_TEXT

PassText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]


class PassRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A pass's text as the console read it (SBP1:…)."""

    text: PassText = msgspec.field(name="pass")


class PassOut(msgspec.Struct, frozen=True):
    """A verified pass: whose it is, until when, and what it grants, in words."""

    pass_id: str
    issuer: str
    holder: str
    valid_until: int
    grants: list[str]


class IssuedPassOut(msgspec.Struct, frozen=True):
    """A pass this box issued for a paid order, to hand over: its QR text and what sold it."""

    index: int
    sku: str
    pass_id: str
    holder: str
    text: str
    issued_at: str
