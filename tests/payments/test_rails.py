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
    EmvcoRail,
    PayNowRail,
    PixRail,
    PromptPayRail,
    RailConfig,
    SepaRail,
    UpiRail,
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
    with pytest.raises(PaymentError, match="over the rail's maximum"):
        registry.payload("pix", Money(10001, "BRL"), "004R")
    with pytest.raises(PaymentError, match="not configured"):
        registry.payload("upi", Money(1, "BRL"), "004R")
    with pytest.raises(PaymentError, match="stall sells in BRL"):
        registry.payload("pix", Money(1, "EUR"), "004R")


alnum = (
    st.text(string.ascii_uppercase + string.digits + " ", min_size=1, max_size=15)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def rail_and_currency(draw: st.DrawFn) -> tuple[RailConfig, str]:
    kind = draw(st.sampled_from(["pix", "promptpay", "paynow", "upi", "sepa", "emvco"]))
    name = draw(alnum)
    if kind == "pix":
        return PixRail(
            key=draw(st.sampled_from(["+5511987654321", "52998224725", "a@b.co"])),
            merchant=name,
            city=name,
        ), "BRL"
    if kind == "promptpay":
        return PromptPayRail(id=draw(st.from_regex(r"0[0-9]{9}|[0-9]{13}", fullmatch=True))), "THB"
    if kind == "paynow":
        return PayNowRail(
            proxy=draw(st.from_regex(r"\+65[89][0-9]{7}", fullmatch=True)), merchant=name
        ), "SGD"
    if kind == "upi":
        return UpiRail(
            vpa="shop@bank", payee=name, form=draw(st.sampled_from(["link", "emv"]))
        ), "INR"
    if kind == "sepa":
        return SepaRail(
            name=name,
            iban="DE33100205000001194700",
            reference=draw(st.sampled_from(["structured", "text"])),
        ), "EUR"
    return EmvcoRail(
        gui="A000000615",
        account={"01": name.replace(" ", "")},
        merchant=name,
        city=name,
        country="MY",
    ), "MYR"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rc=rail_and_currency(), minor=st.integers(1, 99_999_999), number=st.integers(1, 10**7))
def test_random_configs_round_trip_encode_render_decode_parse(
    rc: tuple[RailConfig, str], minor: int, number: int
) -> None:
    rail, currency = rc
    reference = order_reference(number)
    registry = RailRegistry({"r": rail}, currency)
    code = registry.qr("r", Money(minor, currency), reference)
    for decoded, level in decode_all(code):
        assert decoded == code.payload
        assert at_least_m(level)
    if code.payload.startswith("000201"):
        assert jsonFromBrcode(code.payload)["54"] == Money(minor, currency).decimal()
    elif code.payload.startswith("BCD"):
        assert epc.parse(code.payload).name == rail.name  # type: ignore[union-attr]
