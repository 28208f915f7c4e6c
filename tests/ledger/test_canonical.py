"""The stdlib fast path of canonical_items gives exactly RFC 8785, checked against rfc8785."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.ledger.receipt import canonical_items

scalars = st.text() | st.integers(-(2**53) + 1, 2**53 - 1) | st.booleans() | st.none()
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    try:
        expected = bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        return  # lone surrogates and the like: the reference refuses, so may we
    assert canonical_items(value) == expected


def test_floats_and_non_ascii_keys_go_through_rfc8785() -> None:
    assert canonical_items([1.5, 1e21]) == bytes(rfc8785.dumps([1.5, 1e21])) == b"[1.5,1e+21]"
    assert canonical_items({"é": 1, "e": 2}) == bytes(rfc8785.dumps({"é": 1, "e": 2}))


def test_integers_beyond_doubles_are_refused() -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_items([2**60])
