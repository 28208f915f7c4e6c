"""The payments package's error tree."""


class PaymentError(Exception):
    """A payment code cannot be made: unknown rail, wrong currency, amount out of limits, ..."""


class PayloadError(PaymentError):
    """A payload does not parse: bad TLV, bad length, bad CRC; the message names the tag."""
