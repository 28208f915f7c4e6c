"""Base45 against RFC 9285's own examples (https://www.rfc-editor.org/rfc/rfc9285, §4.3, §4.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.passes import base45
from appliance.passes.errors import Base45Error

RFC_9285 = [  # (bytes, text) from RFC 9285 §4.3 (encoding) and §4.4 (decoding)
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("raw", "text"), RFC_9285)
def test_the_rfc_examples(raw: bytes, text: str) -> None:
    assert base45.encode(raw) == text
    assert base45.decode(text) == raw


@given(st.binary(max_size=300))
def test_decode_undoes_encode(raw: bytes) -> None:
    assert base45.decode(base45.encode(raw)) == raw


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("GGW1", "cannot be 4 characters"),  # a length of 3n+1 is never valid
        (":::", "larger than two bytes"),  # 44 + 44·45 + 44·2025 = 91124 > 65535 (RFC 9285 §4.4)
        ("::", "larger than one byte"),
        ("bb8", "'b' is not"),  # lowercase is outside the alphabet
        ("BBé", "ASCII only"),
    ],
)
def test_bad_text_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(Base45Error, match=why):
        base45.decode(text)
