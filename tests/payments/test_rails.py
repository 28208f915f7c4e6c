"""Every rail's payload parses with an independent parser and scans back from every rendering."""

from __future__ import annotations

import binascii
import string
from urllib.parse import parse_qs, urlsplit

import pytest
from brcode.utils.brcodeId import jsonFromBrcode
from decode import at_least_m, decode_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.domain.money import Money
from appliance.payments import emv, epc
from appliance.payments.config import (
    CashRail,
    EmvcoRail,
    PayNowRail,
    PixRail,
    PromptPayRail,
    RailConfig,
    SepaRail,
    UpiRail,
    parse_rails,
)
from appliance.payments.errors import PaymentError
from appliance.payments.ids import rf_valid
from appliance.payments.rails import payload
from appliance.payments.reference import order_reference
from appliance.payments.registry import RailRegistry

RAILS: list[tuple[RailConfig, str]] = [
    (PixRail(key="+5511999998888", merchant="PASTELARIA DEMO", city="SAO PAULO"), "BRL"),
    (PixRail(key="52998224725", merchant="Ana", city="RECIFE", description="Feira"), "BRL"),
    (PromptPayRail(id="0812345678"), "THB"),
    (PromptPayRail(id="1234567890123"), "THB"),
    (PayNowRail(proxy="+6591234567", merchant="KOPI STALL"), "SGD"),
    (PayNowRail(proxy="201912345K", merchant="HAWKER PTE", editable=True), "SGD"),
    (UpiRail(vpa="chai.corner@okbank", payee="Chai Corner"), "INR"),
    (UpiRail(vpa="chai.corner@okbank", payee="Chai Corner", form="emv"), "INR"),
    (SepaRail(name="Crêperie Lüneburg", iban="DE33100205000001194700", bic="COBADEFFXXX"), "EUR"),
    (SepaRail(name="Marktstand", iban="DE33 1002 0500 0001 1947 00", reference="text"), "EUR"),
    (EmvcoRail(gui="A000000615", account={"01": "MERCHANT123"}, merchant="STALL", city="KUALA LUMPUR",
               country="MY", mcc="5812"), "MYR"),
]  # fmt: skip
EMV_FAMILY = (PixRail, PromptPayRail, PayNowRail, EmvcoRail)


def amount_for(currency: str) -> Money:
    return Money(1850, currency)


@pytest.mark.parametrize(
    ("rail", "currency"), RAILS, ids=lambda v: getattr(v, "kind", None) or type(v).__name__
)
def test_payloads_parse_independently_and_scan_back(rail: RailConfig, currency: str) -> None:
    reference = order_reference(1234)
    text = payload(rail, amount_for(currency), reference, currency)
    if isinstance(rail, EMV_FAMILY) or (isinstance(rail, UpiRail) and rail.form == "emv"):
        assert format(binascii.crc_hqx(text[:-4].encode(), 0xFFFF), "04X") == text[-4:]
        independent = jsonFromBrcode(text)
        assert independent["54"] == "18.50"
        assert reference in str(independent["62"])
        assert emv.parse(text)["00"] == "01"
    elif isinstance(rail, SepaRail):
        transfer = epc.parse(text)
        assert transfer.amount == "EUR18.5"
        assert len(text.encode()) <= 331
        assert (
            rf_valid(transfer.reference)
            if rail.reference == "structured"
            else reference in transfer.text
        )
    else:
        query = parse_qs(urlsplit(text).query)
        assert query["am"] == ["18.50"] and query["tr"] == [reference] and query["cu"] == ["INR"]
        assert "%20" in text and "+" not in text
    registry = RailRegistry({"r": rail}, currency)
    for decoded, level in decode_all(registry.qr("r", amount_for(currency), reference)):
        assert decoded == text
        assert at_least_m(level)


def test_an_amount_less_code_is_the_stall_sign() -> None:
    rail = PixRail(key="+5511999998888", merchant="PASTELARIA DEMO", city="SAO PAULO")
    sign = payload(rail, None, None, "BRL")
    parsed = emv.parse(sign)
    assert "54" not in parsed and emv.lookup(parsed, "62.05") == "***"


def test_the_cache_builds_each_code_once_and_limits_hold() -> None:
    registry = RailRegistry(
        {"pix": PixRail(key="+5511999998888", merchant="M", city="C", max_amount="100.00")}, "BRL"
    )
    first = registry.qr("pix", Money(500, "BRL"), "001Y")
    assert registry.qr("pix", Money(500, "BRL"), "001Y") is first
    assert registry.prerender([("pix", Money(600, "BRL"), r) for r in ("002W", "003T")]) == 2
    assert (
        registry.qr("pix", Money(600, "BRL"), "002W").png()
        is registry.qr("pix", Money(600, "BRL"), "002W").png()
    )  # pre-rendered means the PNG bytes too


@pytest.mark.parametrize(
    ("rail", "amount", "reference", "field", "message"),
    [
        ("pix", Money(10001, "BRL"), "004R", "amount", "rail 'pix': 100.01 BRL is over its maximum 100.00 BRL"),
        ("pix", Money(99, "BRL"), "004R", "amount", "rail 'pix': 0.99 BRL is under its minimum 1.00 BRL"),
        ("upi", Money(100, "BRL"), "004R", "rail", "rail 'upi' is not configured (payment rails: pix, open)"),
        ("cash", Money(100, "BRL"), "004R", "rail", "rail 'cash' is cash, which has no code"),
        ("pix", Money(100, "EUR"), "004R", "amount", "rail 'pix': amount in EUR, the stall sells in BRL"),
        ("open", Money(0, "BRL"), "004R", "amount", "rail 'open': amount 0.00 BRL must be positive"),
        ("pix", Money(100, "BRL"), "ORDER-7", "reference", "rail 'pix': reference 'ORDER-7': 1-25 letters"),
        ("pix", Money(100, "BRL"), "X" * 26, "reference", "rail 'pix': reference 'XXXXXXXXXXXXXXXXXXXXXXXXXX': 1-25"),
    ],
)  # fmt: skip
def test_refusals_name_the_rail_the_input_and_the_rule(
    rail: str, amount: Money, reference: str, field: str, message: str
) -> None:
    registry = RailRegistry(
        {
            "pix": PixRail(key="a@b.co", merchant="M", city="C", min_amount="1", max_amount="100"),
            "cash": CashRail(),
            "open": PixRail(key="a@b.co", merchant="M", city="C"),
        },
        "BRL",
    )
    assert registry.rail_names() == ["pix", "open"]
    with pytest.raises(PaymentError) as caught:
        registry.payload(rail, amount, reference)
    assert str(caught.value).startswith(message)
    assert caught.value.field == field


def test_a_sepa_reference_that_cannot_be_an_rf_reference_is_refused_not_cut() -> None:
    registry = RailRegistry({"sepa": SepaRail(name="A", iban="DE33100205000001194700")}, "EUR")
    with pytest.raises(PaymentError, match="1-21 letters or digits") as caught:
        registry.payload("sepa", Money(100, "EUR"), "A" * 22)
    assert caught.value.field == "reference"


def test_from_config_takes_the_currency_the_rails_imply() -> None:
    pix_only: dict[str, RailConfig] = {
        "pix": PixRail(key="a@b.co", merchant="M", city="C"),
        "cash": CashRail(),
    }
    assert RailRegistry.from_config(pix_only).currency == "BRL"
    assert RailRegistry.from_config(pix_only, "BRL").currency == "BRL"
    with pytest.raises(PaymentError, match="currency is needed"):
        RailRegistry.from_config({"cash": CashRail()})


# Raw [rails.NAME] tables, as stallbox.toml holds them, drawn at random but valid.
text = (
    st.text(string.ascii_letters + string.digits + " .-", min_size=1, max_size=15)
    .map(str.strip)
    .filter(bool)
)
CPFS = ["52998224725", "11144477735"]
CNPJS = ["11222333000181"]
IBANS = ["DE33100205000001194700", "DE89 3704 0044 0532 0130 00", "FR1420041010050500013M02606"]


@st.composite
def raw_rail(draw: st.DrawFn) -> tuple[dict[str, object], str]:
    kind = draw(st.sampled_from(["pix", "promptpay", "paynow", "upi", "sepa", "emvco"]))
    name = draw(text)
    if kind == "pix":
        key = draw(st.sampled_from([*CPFS, *CNPJS, "+5511987654321", "loja@exemplo.com.br",
                                    "123e4567-e12b-12d1-a456-426655440000"]))  # fmt: skip
        return {"kind": kind, "key": key, "merchant": name, "city": draw(text),
                "description": draw(st.sampled_from(["", "Feira"]))}, "BRL"  # fmt: skip
    if kind == "promptpay":
        return {
            "kind": kind,
            "id": draw(st.from_regex(r"0[0-9]{9}|[0-9]{13}", fullmatch=True)),
        }, "THB"
    if kind == "paynow":
        proxy = draw(st.from_regex(r"\+65[89][0-9]{7}|20[0-9]{7}[A-Z]", fullmatch=True))
        return {"kind": kind, "proxy": proxy, "merchant": name,
                "editable": draw(st.booleans())}, "SGD"  # fmt: skip
    if kind == "upi":
        return {"kind": kind, "vpa": "chai.corner@okaxis", "payee": name,
                "form": draw(st.sampled_from(["link", "emv"]))}, "INR"  # fmt: skip
    if kind == "sepa":
        sepa_name = draw(st.sampled_from([name, "Crêperie Lüneburg", "Ĳsbar Čokolada"]))
        return {"kind": kind, "name": sepa_name, "iban": draw(st.sampled_from(IBANS)),
                "reference": draw(st.sampled_from(["structured", "text"]))}, "EUR"  # fmt: skip
    currency = draw(st.sampled_from(["MYR", "USD", "JPY", "KWD"]))
    return {"kind": kind, "gui": "A000000615", "account": {"01": name.replace(" ", "") or "X"},
            "merchant": name, "city": draw(text), "country": "MY", "mcc": "5812"}, currency  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=raw_rail(), minor=st.integers(1, 99_999_999), number=st.integers(1, 32**7 - 1))
def test_random_configs_round_trip_encode_render_decode_parse(
    drawn: tuple[dict[str, object], str], minor: int, number: int
) -> None:
    table, currency = drawn
    rails = parse_rails({"r": table}, currency, "stallbox.toml")
    registry = RailRegistry.from_config(rails, currency)
    amount, reference = Money(minor, currency), order_reference(number)
    code = registry.qr("r", amount, reference)
    for decoded, level in decode_all(code):
        assert decoded == code.payload
        assert at_least_m(level)
    if code.payload.startswith("000201"):
        independent = jsonFromBrcode(code.payload)
        assert independent["54"] == amount.decimal()
        assert reference in str(independent["62"])
        assert (
            format(binascii.crc_hqx(code.payload[:-4].encode(), 0xFFFF), "04X") == independent["63"]
        )
        assert emv.parse(code.payload)["53"] == emv.CURRENCY_CODES[currency]
    elif code.payload.startswith("BCD"):
        transfer = epc.parse(code.payload)
        assert transfer.name == table["name"]
        assert reference in (transfer.reference or transfer.text)
        assert len(code.payload.encode()) <= 331
    else:
        query = parse_qs(urlsplit(code.payload).query)
        assert query["am"] == [amount.decimal()] and query["tr"] == [reference]
        assert query["pn"] == [table["payee"]]
