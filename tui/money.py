"""Amounts as the stall's locale writes them (CLDR, through Babel): "R$ 24,00", "₹1,23,456.00".

The node sends integer minor units and its currency; the console never shows minor units. The
stall's locale comes with the node's stats (`locale`, a BCP 47 tag such as pt-BR); until the
first answer, and for a tag Babel does not know, amounts are written in English.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision

FALLBACK = "en"


@lru_cache(maxsize=16)
def babel_locale(tag: str) -> Locale:
    """The Babel locale for a tag like pt-BR (English when unknown)."""
    try:
        return Locale.parse(tag.replace("-", "_")) if tag else Locale.parse(FALLBACK)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(FALLBACK)


def exponent(currency: str) -> int:
    """Digits after the decimal point for an ISO 4217 currency (CLDR): 2 for BRL, 0 for JPY."""
    return int(get_currency_precision(currency))


def major(minor: int, currency: str) -> Decimal:
    """Minor units as an exact amount in the currency: 2400 BRL → Decimal('24.00')."""
    return Decimal(minor).scaleb(-exponent(currency))


def money(minor: int, currency: str, locale: str = FALLBACK) -> str:
    """An amount as the locale writes it, with its currency sign: 2400 BRL, pt-BR → 'R$ 24,00'."""
    return str(format_currency(major(minor, currency), currency, locale=babel_locale(locale)))


def plain(minor: int, currency: str, locale: str = FALLBACK) -> str:
    """The number alone, grouped as the locale writes it (for the big digits): '1.026,00'."""
    where = babel_locale(locale)
    pattern = where.currency_formats["standard"].pattern.split(";")[0]
    bare = pattern.replace("¤", "").strip("\xa0 ")
    amount = major(minor, currency)
    return str(format_currency(amount, currency, format=bare, locale=where, currency_digits=True))
