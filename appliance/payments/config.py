"""Payment rail configuration: the `[rails.NAME]` tables of stallbox.toml, validated at load.

Each table has a `kind` and the keys of that kind. Every problem is one ConfigError naming the
key and the rule (`rails.sepa.iban: checksum fails`, `rails.pix.city: 16 characters, at most
15`). Nothing is truncated or transliterated silently: a value that does not fit is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from appliance.domain.errors import DomainError
from appliance.domain.money import Money
from appliance.errors import ConfigError, config_field_error
from appliance.payments import epc
from appliance.payments.emv import CURRENCY_CODES
from appliance.payments.errors import PayloadError
from appliance.payments.ids import cnpj_valid, cpf_valid, iban_problem

_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")


class _Rail(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, tag_field="kind"
):
    min_amount: str | None = None
    max_amount: str | None = None


class PixRail(_Rail, tag="pix", kw_only=True, frozen=True, forbid_unknown_fields=True):
    key: str
    merchant: str
    city: str
    description: str = ""


class UpiRail(_Rail, tag="upi", kw_only=True, frozen=True, forbid_unknown_fields=True):
    vpa: str
    payee: str
    form: Literal["link", "emv"] = "link"
    note: str = ""
    merchant_city: str = "INDIA"


class SepaRail(_Rail, tag="sepa", kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    iban: str
    bic: str = ""
    reference: Literal["structured", "text"] = "structured"


class PromptPayRail(_Rail, tag="promptpay", kw_only=True, frozen=True, forbid_unknown_fields=True):
    id: str


class PayNowRail(_Rail, tag="paynow", kw_only=True, frozen=True, forbid_unknown_fields=True):
    proxy: str  # +65 mobile number or a UEN
    merchant: str
    city: str = "Singapore"
    editable: bool = False


class EmvcoRail(_Rail, tag="emvco", kw_only=True, frozen=True, forbid_unknown_fields=True):
    gui: str
    account: dict[str, str] = {}
    account_tag: str = "26"
    merchant: str
    city: str
    country: str
    mcc: str = "0000"


class CashRail(_Rail, tag="cash", kw_only=True, frozen=True, forbid_unknown_fields=True):
    pass


RailConfig = PixRail | UpiRail | SepaRail | PromptPayRail | PayNowRail | EmvcoRail | CashRail

CURRENCY: dict[type[_Rail], str] = {
    PixRail: "BRL", UpiRail: "INR", SepaRail: "EUR", PromptPayRail: "THB", PayNowRail: "SGD",
}  # fmt: skip


def _text(path: Path | str, key: str, value: str, most: int, *, least: int = 1) -> None:
    if not _PRINTABLE.match(value):
        bad = next(c for c in value if not _PRINTABLE.match(c))
        raise ConfigError(
            path, key, f"{value!r} has {bad!r}; payment codes take plain ASCII (A-Z, 0-9, ...)"
        )
    if len(value) > most:
        raise ConfigError(path, key, f"{len(value)} characters, at most {most}")
    if len(value) < least:
        raise ConfigError(path, key, "must not be empty")


def _template(path: Path | str, key: str, values: list[str], tag: str) -> None:
    """An EMV template (GUI + sub-fields, 4 characters of tag and length each) holds <= 99."""
    size = sum(4 + len(value) for value in values if value)
    if size > 99:
        raise ConfigError(
            path,
            key,
            f"the merchant account field (tag {tag}) would be {size} characters, at most 99",
        )


def _pix_key(path: Path | str, key: str, value: str) -> None:
    _text(path, key, value, 77)
    uuid = re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", value)
    if uuid or re.fullmatch(r"\+55[0-9]{10,11}", value):
        return
    if "@" in value:
        if len(value) > 77 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ConfigError(path, key, f"{value!r} is not an e-mail key (at most 77 characters)")
        return
    if re.fullmatch(r"[0-9]{11}", value):
        if not cpf_valid(value):
            raise ConfigError(path, key, "CPF check digits fail")
        return
    if re.fullmatch(r"[0-9]{14}", value):
        if not cnpj_valid(value):
            raise ConfigError(path, key, "CNPJ check digits fail")
        return
    raise ConfigError(
        path, key, f"{value!r} is not a Pix key (CPF, CNPJ, +55 phone, e-mail or random EVP key)"
    )


def _check(rail: RailConfig, key: str, path: Path | str) -> None:
    """Rules beyond types, per kind."""
    if isinstance(rail, PixRail):
        _pix_key(path, f"{key}.key", rail.key)
        _text(path, f"{key}.merchant", rail.merchant, 25)
        _text(path, f"{key}.city", rail.city, 15)
        _text(path, f"{key}.description", rail.description, 40, least=0)
        where = f"{key}.description" if rail.description else f"{key}.key"
        _template(path, where, ["br.gov.bcb.pix", rail.key, rail.description], "26")
    elif isinstance(rail, UpiRail):
        if not re.fullmatch(r"[A-Za-z0-9._-]{2,256}@[A-Za-z0-9.-]{2,64}", rail.vpa):
            raise ConfigError(
                path, f"{key}.vpa", f"{rail.vpa!r} is not a UPI address like name@bank"
            )
        _text(path, f"{key}.payee", rail.payee, 25)
        _text(path, f"{key}.note", rail.note, 40, least=0)
        _text(path, f"{key}.merchant_city", rail.merchant_city, 15)
    elif isinstance(rail, SepaRail):
        if not rail.name.strip() or not rail.name.isprintable():
            raise ConfigError(path, f"{key}.name", "1-70 printable characters, no line breaks")
        if len(rail.name) > 70:
            raise ConfigError(path, f"{key}.name", f"{len(rail.name)} characters, at most 70")
        if problem := iban_problem(rail.iban):
            raise ConfigError(path, f"{key}.iban", problem)
        if rail.bic and not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", rail.bic):
            raise ConfigError(path, f"{key}.bic", f"{rail.bic!r} is not a BIC (8 or 11 characters)")
        worst = epc.Transfer(  # the largest payload an order can make must still fit 331 bytes
            name=rail.name, iban=rail.iban.replace(" ", "").upper(), bic=rail.bic,
            amount="EUR999999999.99", text="Order " + "W" * 25,
        )  # fmt: skip
        try:
            epc.encode(worst)
        except PayloadError as exc:
            raise ConfigError(
                path, f"{key}.name", f"an order's EPC payload would be too large ({exc})"
            ) from None
    elif isinstance(rail, PromptPayRail):
        if not re.fullmatch(r"0[0-9]{9}|[0-9]{13}|[0-9]{15}", rail.id):
            raise ConfigError(
                path,
                f"{key}.id",
                "a 10-digit mobile number, a 13-digit tax id or a 15-digit e-wallet id",
            )
    elif isinstance(rail, PayNowRail):
        if not re.fullmatch(r"\+65[89][0-9]{7}|[0-9A-Z]{9,10}", rail.proxy):
            raise ConfigError(path, f"{key}.proxy", "a +65 mobile number or a 9-10 character UEN")
        _text(path, f"{key}.merchant", rail.merchant, 25)
        _text(path, f"{key}.city", rail.city, 15)
    elif isinstance(rail, EmvcoRail):
        _text(path, f"{key}.gui", rail.gui, 32)
        if not re.fullmatch(r"2[6-9]|[34][0-9]|5[01]", rail.account_tag):
            raise ConfigError(path, f"{key}.account_tag", "a merchant account tag, 26-51")
        for sub, value in rail.account.items():
            if not re.fullmatch(r"0[1-9]|[1-9][0-9]", sub):
                raise ConfigError(path, f"{key}.account.{sub}", "sub-tags are two digits, 01-99")
            _text(path, f"{key}.account.{sub}", value, 99 - 4 - 4 - len(rail.gui))
        _template(path, f"{key}.account", [rail.gui, *rail.account.values()], rail.account_tag)
        _text(path, f"{key}.merchant", rail.merchant, 25)
        _text(path, f"{key}.city", rail.city, 15)
        if not re.fullmatch(r"[A-Z]{2}", rail.country):
            raise ConfigError(path, f"{key}.country", "an ISO 3166 two-letter code like SG")
        if not re.fullmatch(r"[0-9]{4}", rail.mcc):
            raise ConfigError(path, f"{key}.mcc", "a 4-digit merchant category code")


def amount_limits(rail: RailConfig, currency: str) -> tuple[Money | None, Money | None]:
    """The rail's configured (min, max) amounts in the stall's currency."""
    low = Money.parse(rail.min_amount, currency) if rail.min_amount else None
    high = Money.parse(rail.max_amount, currency) if rail.max_amount else None
    return low, high


def _limits(rail: RailConfig, key: str, path: Path | str, currency: str) -> None:
    """min_amount and max_amount: positive amounts in the stall's currency, min <= max."""
    bounds: dict[str, Money] = {}
    for field in ("min_amount", "max_amount"):
        text = getattr(rail, field)
        if text is None:
            continue
        try:
            bounds[field] = Money.parse(text, currency)
        except DomainError as exc:
            raise ConfigError(path, f"{key}.{field}", str(exc)) from None
        if bounds[field].minor <= 0:
            raise ConfigError(path, f"{key}.{field}", f"{text!r} must be more than 0")
    low, high = bounds.get("min_amount"), bounds.get("max_amount")
    if low is not None and high is not None and low > high:
        raise ConfigError(path, f"{key}.min_amount", f"{low} is more than max_amount {high}")


def parse_rails(
    raw: Mapping[str, Mapping[str, Any]], currency: str, path: Path | str
) -> dict[str, RailConfig]:
    """Validate every [rails.NAME] table; raise ConfigError naming the first bad key."""
    rails: dict[str, RailConfig] = {}
    for name, table in raw.items():
        key = f"rails.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
            raise ConfigError(
                path, key, "rail names are 1-32 of a-z 0-9 _ -, starting with a letter"
            )
        if "kind" not in table:
            raise ConfigError(
                path, f"{key}.kind", "missing (pix, upi, sepa, promptpay, paynow, emvco or cash)"
            )
        try:
            rail = msgspec.convert(table, type=RailConfig)
        except msgspec.ValidationError as exc:
            raise config_field_error(path, str(exc), key) from None
        wanted = CURRENCY.get(type(rail))
        if wanted is not None and wanted != currency:
            raise ConfigError(
                path,
                f"{key}.kind",
                f"{table['kind']} takes {wanted}, the stall sells in {currency}",
            )
        if isinstance(rail, EmvcoRail) and currency not in CURRENCY_CODES:
            raise ConfigError(
                path, f"{key}.kind", f"emvco: no ISO 4217 numeric code for {currency}"
            )
        _check(rail, key, path)
        _limits(rail, key, path, currency)
        rails[name] = rail
    return rails
