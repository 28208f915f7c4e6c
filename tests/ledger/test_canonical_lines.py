"""A sale's items written directly (receipt._sale_lines) give exactly RFC 8785, as the stdlib does.

The reference is the rfc8785 package (RFC 8785, https://www.rfc-editor.org/rfc/rfc8785); the
items hash of every receipt depends on these bytes, so any difference would break verification.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ledger.receipt import _sale_lines, canonical_items

safe = st.integers(-(2**53) + 1, 2**53 - 1)
line = st.fixed_dictionaries({"name": st.text(), "qty": safe, "sku": st.text(), "unit": safe})


@settings(max_examples=500, deadline=None)
@given(st.lists(line, max_size=5))
def test_sale_lines_equal_rfc8785_and_the_stdlib(items: list[dict[str, Any]]) -> None:
    try:
        expected = bytes(rfc8785.dumps(items))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return  # lone surrogates: the reference refuses them
    assert _sale_lines(items) == expected == canonical_items(items)
    assert (
        expected
        == json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_control_characters_quotes_and_non_ascii_are_quoted_as_rfc8785_does() -> None:
    items: list[dict[str, Any]] = [
        {
            "sku": 'a"\\\b\f\n\r\t\x00\x1f\x7f',
            "name": "Pão de queijo \u2028 😀",
            "qty": 1,
            "unit": -5,
        }
    ]
    assert _sale_lines(items) == bytes(rfc8785.dumps(items))


def test_anything_else_takes_the_general_path() -> None:
    other: list[Any] = [
        [{"sku": "a", "name": "A", "qty": 1, "unit": 5, "pass": "p"}],  # a pass's discount
        [{"sku": "a", "name": "A", "qty": True, "unit": 5}],  # a bool is not a quantity
        [{"sku": "a", "name": "A", "qty": 1, "unit": 2**53}],  # beyond a double: refused later
        [{"sku": "a", "name": "A", "qty": 1.0, "unit": 5}],
        {"from_seq": 0, "to_seq": 3},  # a close's items
        ("a",),
    ]
    for items in other:
        assert _sale_lines(items) is None
