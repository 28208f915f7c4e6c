"""Order references: short, speakable, unique per device, valid in every rail's reference field.

A reference is the order number in Crockford base32 (no I, L, O, U: nothing to mishear or
misread), at least three symbols, plus one Luhn mod-32 check symbol so a vendor who reads it off
the payer's screen catches a typo. Order 1 is "001" + check; it stays alphanumeric and at most
8 characters for any number below 32**7, fitting Pix txid, UPI tr, EMV tag 62-05 and EPC text.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MIN_SYMBOLS = 3
MAX_PREFIX = 2
_READ_AS = str.maketrans("OIL", "011")


def _luhn32(symbols: str) -> str:
    """The Luhn mod-N check symbol over `symbols` (N = 32)."""
    total, factor = 0, 2
    for symbol in reversed(symbols):
        addend = factor * ALPHABET.index(symbol)
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return ALPHABET[(32 - total % 32) % 32]


def prefix_problem(prefix: str) -> str | None:
    """What is wrong with a box's reference prefix (`[stall] reference_prefix`), or None.

    Boxes that share one payment account each need their own, so that order 1 of one box is
    not order 1 of another (docs/reconciliation.md, "Several boxes on one account").
    """
    if len(prefix) > MAX_PREFIX or any(c not in ALPHABET for c in prefix):
        return f"{prefix!r}: 0-{MAX_PREFIX} of {ALPHABET} (Crockford base32, capitals)"
    if prefix.startswith("D"):
        return f"{prefix!r}: must not start with D (drop references start with DR)"
    return None


def order_reference(number: int, prefix: str = "") -> str:
    """Return the reference of order `number` (>= 1) on a box with this reference prefix."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"order number must be a positive integer, got {number!r}")
    if problem := prefix_problem(prefix):
        raise ValueError(problem)
    digits = prefix + _base32(number).rjust(MIN_SYMBOLS, "0")
    return digits + _luhn32(digits)


def normalize_reference(typed: str) -> str:
    """What a vendor typed, read the Crockford way: any case, O as 0, I and L as 1, no - or spaces."""
    return typed.upper().translate(_READ_AS).replace("-", "").replace(" ", "")


def reference_is_valid(reference: str) -> bool:
    """True when the check symbol matches (read with normalize_reference, as a vendor types it)."""
    reference = normalize_reference(reference)
    if len(reference) < MIN_SYMBOLS + 1 or any(c not in ALPHABET for c in reference):
        return False
    return _luhn32(reference[:-1]) == reference[-1]


def drop_reference(drop_id: int, place: int, prefix: str = "") -> str:
    """The reference of a drop claim: the box's prefix, "DR", the drop, the place in line (3+),
    a check symbol.

    Order references are 4 symbols until order 32768 and would need 33 million orders to reach
    the 7 symbols a drop reference has at least, so the two never meet on one box.
    """
    if drop_id < 1 or place < 1:
        raise ValueError(f"drop id and place must be positive, got {drop_id} and {place}")
    if problem := prefix_problem(prefix):
        raise ValueError(problem)
    digits = prefix + "DR" + _base32(drop_id) + _base32(place).rjust(MIN_SYMBOLS, "0")
    return digits + _luhn32(digits)


def _base32(number: int) -> str:
    digits = ""
    while number:
        number, rest = divmod(number, 32)
        digits = ALPHABET[rest] + digits
    return digits or "0"
