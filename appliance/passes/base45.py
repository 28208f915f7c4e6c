"""Base45 (RFC 9285): the QR-alphanumeric-safe text encoding passes travel in.

Written here rather than taken from a package: it is twenty lines, and decoding sits on the
verify path, whose budget is a fraction of one Ed25519 verify (bench/passes.py).
"""

from __future__ import annotations

import struct

from appliance.passes.errors import Base45Error

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
_VALUES = bytes(ALPHABET.index(chr(c)) if chr(c) in ALPHABET else _INVALID for c in range(256))


def encode(data: bytes) -> str:
    """Encode bytes as Base45: each pair of bytes as three characters, a last odd byte as two."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        out += (ALPHABET[n % 45], ALPHABET[n // 45 % 45], ALPHABET[n // 2025])
    if len(data) % 2:
        n = data[-1]
        out += (ALPHABET[n % 45], ALPHABET[n // 45])
    return "".join(out)


def decode(text: str) -> bytes:
    """Decode Base45; raise Base45Error on a character outside the alphabet or a bad length."""
    if len(text) % 3 == 1:
        raise Base45Error(f"a Base45 text cannot be {len(text)} characters long")
    try:
        values = text.encode("ascii").translate(_VALUES)
    except UnicodeEncodeError:
        raise Base45Error("a Base45 text is ASCII only") from None
    if _INVALID in values:
        bad = text[values.index(_INVALID)]
        raise Base45Error(f"{bad!r} is not a Base45 character")
    full = len(values) - len(values) % 3
    pairs = [
        c + 45 * d + 2025 * e
        for c, d, e in zip(values[0:full:3], values[1:full:3], values[2:full:3], strict=True)
    ]
    if pairs and max(pairs) > 0xFFFF:
        raise Base45Error("a Base45 triple is larger than two bytes")
    out = struct.pack(f">{len(pairs)}H", *pairs)
    if full < len(values):
        n = values[-2] + 45 * values[-1]
        if n > 0xFF:
            raise Base45Error("the last Base45 pair is larger than one byte")
        out += bytes((n,))
    return out
