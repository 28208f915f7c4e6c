"""Money as integer minor units plus an ISO 4217 code; never floats.

The exponent table says how many decimals each currency shows (BRL 2, JPY 0, KWD 3). Parsing
and formatting go through it so that "18.50 BRL" is 1850 minor units everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.domain.errors import MoneyError

# ISO 4217 minor-unit exponents for the currencies a stall is likely to use.
EXPONENTS: dict[str, int] = {
    "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2, "DKK": 2,
    "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0,
    "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2,
    "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TWD": 2, "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip

MAX_MINOR = 2**63 - 1  # SQLite's largest INTEGER: no amount past it can be stored or summed

# ASCII digits only: Arabic-Indic or full-width digits are numbers to int(), not amounts typed here.
_DECIMAL = re.compile(r"(?P<sign>-?)(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?")


def whole_number(value: object) -> bool:
    """True for an int that is not a bool (True is not a quantity or an amount)."""
    return isinstance(value, int) and not isinstance(value, bool)


def exponent(currency: str) -> int:
    """Return the number of decimals ISO 4217 gives `currency`."""
    code: object = currency  # callers may hand in anything read from JSON or TOML
    if not isinstance(code, str) or code not in EXPONENTS:
        raise MoneyError(f"unknown currency {currency!r} (ISO 4217 code expected)")
    return EXPONENTS[currency]


def _too_large(text: str) -> MoneyError:
    shown = text if len(text) <= 32 else f"{text.strip()[:24]}... ({len(text)} characters)"
    return MoneyError(f"{shown!r} is too large: at most {MAX_MINOR} minor units")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units of one currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not whole_number(self.minor):
            raise MoneyError(f"amount must be an integer count of minor units, got {self.minor!r}")
        exponent(self.currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string in major units ("18.50") into Money, refusing excess decimals."""
        digits = exponent(currency)
        raw: object = text
        if not isinstance(raw, str):
            raise MoneyError(f"amount must be decimal text like 12.50, got {text!r}")
        match = _DECIMAL.fullmatch(text.strip())
        if match is None:
            raise MoneyError(f"{text!r} is not a decimal amount like 12.50")
        frac = match["frac"] or ""
        if len(frac) > digits:
            raise MoneyError(f"{text!r} has {len(frac)} decimals, {currency} allows {digits}")
        whole = match["whole"].lstrip("0") or "0"
        if len(whole) > 19:  # past MAX_MINOR in any currency (and int() of 4,300 digits raises)
            raise _too_large(text)
        minor = int(whole) * 10**digits + int(frac.ljust(digits, "0") or "0")
        if minor > MAX_MINOR:
            raise _too_large(text)
        return cls(-minor if match["sign"] else minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return nothing of `currency`."""
        return cls(0, currency)

    def _same(self, other: object) -> None:
        if not isinstance(other, Money):
            raise MoneyError(f"cannot combine {self} with {other!r}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    # Ordering is written out (not dataclass order=True) so that comparing BRL with USD raises
    # instead of silently comparing (minor, currency) tuples.
    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __mul__(self, factor: int) -> Money:
        if not whole_number(factor):
            raise MoneyError("money can only be multiplied by a whole number")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def decimal(self) -> str:
        """Return the amount as a plain decimal string in major units ("18.50", "-3", "0.125")."""
        digits = exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**digits)
        return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"

    def __str__(self) -> str:
        return f"{self.decimal()} {self.currency}"
