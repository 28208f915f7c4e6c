"""The attendee pages in the attendee's language: gettext catalogs and CLDR formatting (Babel).

The language is the first of the phone's Accept-Language tags that a catalog in
appliance/api/locales/ covers, else the stall's locale, else English. Page strings come from
those gettext catalogs (made with Babel's tooling: docs/i18n.md); amounts, dates and
times are formatted by Babel from CLDR data in the attendee's locale, times in the stall's time
zone. Nothing here trusts the header beyond picking one of a fixed set of locales.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_time
from babel.numbers import format_currency

from appliance.domain.money import Money

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
# The catalogs shipped; the first is the source language of the templates' msgids.
CATALOGS = ("en", "pt_BR", "es", "th", "hi", "zh_Hans", "de", "fr", "it", "nl")
MAX_TAGS = 12  # Accept-Language entries looked at (a header may list hundreds)
MAX_REMEMBERED = 256  # headers whose negotiation is kept, so the hot menu path parses none
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4}")
_Q = re.compile(r"q=([01](?:\.[0-9]{0,3})?)")


def N_(message: str) -> str:
    """Mark a string for extraction (pybabel -k N_) without translating it here."""
    return message


# Errors the pages show, by code: a link may name a code, never the text (issue 15).
ERRORS = {
    "empty": N_("Choose at least one item."),
    "out_of_stock": N_("Not enough left of an item. Please choose again."),
    "tender_refused": N_("That payment method is not offered for this amount."),
    "not_open": N_("The drop has not opened yet."),
    "sold_out": N_("Sold out."),
    "few_left": N_("Not that many left. Choose fewer."),
    "per_attendee": N_("That is more than one person may claim."),
    "refused": N_("The stall could not take this order. Please try again."),
    "busy": N_("Too many requests. Wait a moment, then try again."),
    "pass_expired": N_("Your pass has expired."),
    "pass_not_yet_valid": N_("Your pass is not valid yet."),
    "pass_revoked": N_("Your pass was cancelled by its issuer."),
    "pass_invalid": N_("This stall cannot accept your pass."),
}


@dataclass(frozen=True, slots=True)
class PageLocale:
    """One attendee's language: the catalog, the CLDR locale for numbers and the stall's zone."""

    tag: str  # BCP 47, for <html lang>: "pt-BR", "zh-Hans", "en-IN"
    catalog: str  # the catalog used: one of CATALOGS
    formatting: Locale
    translations: NullTranslations
    zone: tzinfo

    def gettext(self, message: str, **values: object) -> str:
        """The message in this language, with %(name)s values filled in."""
        text = self.translations.gettext(message)
        return text % values if values else text

    def money(self, amount: Money) -> str:
        """An amount as this locale writes it: R$ 24,00 in pt-BR, ₹1,23,456.00 in hi, ฿24.00 in th."""
        return format_currency(Decimal(amount.decimal()), amount.currency, locale=self.formatting)

    def time(self, at: datetime) -> str:
        """A time of day in the stall's zone, as this locale writes it (15:09:32, 3:09:32 PM)."""
        return format_time(at, "medium", tzinfo=self.zone, locale=self.formatting)

    def datetime(self, at: datetime) -> str:
        """A date and time in the stall's zone, as this locale writes it."""
        return format_datetime(at, "medium", tzinfo=self.zone, locale=self.formatting)

    def error(self, code: str | None) -> str | None:
        """The message for an error code, None for no code or an unknown one."""
        message = ERRORS.get(code or "")
        return None if message is None else self.gettext(message)


def format_money(amount: Money, locale: str) -> str:
    """An amount in the stall's locale (CLDR), plain spaces: for paper and the customer display."""
    where = _parse(locale) or _parse("en")
    text = str(format_currency(Decimal(amount.decimal()), amount.currency, locale=where))
    return text.replace("\xa0", " ").replace("\u202f", " ")


def stall_zone(name: str) -> tzinfo:
    """The stall's time zone: an IANA name from the config, or the box's own zone for ""."""
    if name:
        return ZoneInfo(name)  # checked when the config was loaded
    return datetime.now().astimezone().tzinfo or UTC


def accepted_tags(header: str) -> list[str]:
    """The tags of an Accept-Language header, most wanted first (q=0 and malformed ones dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:MAX_TAGS]):
        tag, _, params = part.strip().partition(";")
        quality = _Q.fullmatch(params.strip().replace(" ", ""))
        weight = float(quality.group(1)) if quality else (1.0 if not params.strip() else 0.0)
        if weight > 0 and _TAG.fullmatch(tag.strip()):
            ranked.append((-weight, index, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None


class Languages:
    """The catalogs, loaded once at start, and the negotiation of a request's locale."""

    def __init__(self, fallback: str, zone: tzinfo, directory: Path = LOCALES_DIR) -> None:
        self.zone = zone
        self.catalogs: dict[str, NullTranslations] = {}
        for name in CATALOGS:
            mo = directory / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
            with mo.open("rb") as handle:
                self.catalogs[name] = GNUTranslations(handle)
        self.locales = {name: Locale.parse(name) for name in CATALOGS}
        self.fallback = self._match(fallback) or self._build("en", "en", self.locales["en"])
        self._remembered: dict[str, PageLocale] = {}
        # Babel loads CLDR data on first use (~80 ms): pay it at start, not on the first menu.
        self.fallback.money(Money(0, "USD"))
        self.fallback.time(datetime.now(UTC))

    def _build(self, tag: str, catalog: str, formatting: Locale) -> PageLocale:
        return PageLocale(tag, catalog, formatting, self.catalogs[catalog], self.zone)

    def _match(self, tag: str) -> PageLocale | None:
        wanted = _parse(tag)
        if wanted is None:
            return None
        for name, known in self.locales.items():
            if wanted.language != known.language:
                continue
            if wanted.script and known.script and wanted.script != known.script:
                continue  # zh-Hant / zh-TW: no Traditional catalog yet
            # A region the attendee named formats their way (en-IN groups 1,23,456.00).
            formatting = wanted if wanted.territory or wanted.script else known
            return self._build(str(formatting).replace("_", "-"), name, formatting)
        return None

    def for_header(self, header: str | None) -> PageLocale:
        """The locale for a request's Accept-Language (None or nothing known: the stall's)."""
        if not header:
            return self.fallback
        known = self._remembered.get(header)
        if known is not None:
            return known
        chosen = next(
            (m for m in map(self._match, accepted_tags(header)) if m is not None), self.fallback
        )
        if len(self._remembered) >= MAX_REMEMBERED:
            self._remembered.clear()
        self._remembered[header] = chosen
        return chosen
