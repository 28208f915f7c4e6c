"""The payments package's error tree.

PaymentError carries the input it is about (`field`: "rail", "amount" or "reference"), so an edge
such as `stallbox qr` can name its own option (--rail, --amount, --ref) without parsing messages.
"""

from __future__ import annotations


class PaymentError(Exception):
    """A payment code cannot be made: unknown rail, wrong currency, amount out of limits, ..."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class PayloadError(PaymentError):
    """A payload does not parse or cannot be encoded; the message names the tag or field."""

    def __init__(self, message: str, field: str = "", tag: str = "") -> None:
        super().__init__(message, field)
        self.tag = tag  # the EMV data object at fault, "59" or "62.05", when there is one
