"""The strict EMVCo parser: published payloads pass, a payload with one rule broken fails naming
the tag, and every payload our rails make passes it and scans back with zxing-cpp.

The rules and their sources are listed in appliance/payments/emv_rules.py (EMV QRCPS MPM v1.1,
BCB's Manual de Padrões para Iniciação do Pix).
"""

from __future__ import annotations

import string

import pytest
from decode import decode_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_payment_vectors import EMV_VECTORS

from appliance.domain.money import Money
from appliance.payments import emv
from appliance.payments.config import parse_rails
from appliance.payments.errors import PayloadError, PaymentError
from appliance.payments.rails import payload
from appliance.payments.registry import RailRegistry
from appliance.payments.render import make_matrix, render_png

# bacen/pix-api issue 236 ("PSP-pagador repassando TXID corretamente (QR Estático)", opened
# 2020-12-08): a real static Pix code of R$ 0.15 that the thread's author paid from 18 banks.
PIX_BACEN_ISSUE_236 = (
    "00020126580014br.gov.bcb.pix01365a5ea8c2-cbb5-4c25-a7be-2a778871fc5f52040000530398654040.15"
    "5802BR5911Arrumadinho6008Brasilia62260522e433v1524u155f31mDvx0163045B1E"
)
# gist.github.com/matheusb-comp/1efa205b3c0ffd7af1e8ce63a10e02dc ("Exemplos de formato PIX",
# 2024-07-17), "PIX Dinâmico (seção 6.2)", upper-case GUI as some banks write it (CRC EEAB).
PIX_GIST_DYNAMIC = (
    "00020101021226770014BR.GOV.BCB.PIX2555pix.example.com/qr/93598be0-1bd0-4997-8318-81776a1d8a99"
    "52040000530398658" + "02BR5907EMPRESA6009SAO PAULO62070503***6304EEAB"
)
# The same gist's "PIX Estático (seção 6.1)": its CRC (170E) is right for the text as published,
# but tag 62 says 08 characters and 7 follow. A strict reader refuses it.
PIX_GIST_STATIC_BAD_LENGTH = (
    "00020126360014BR.GOV.BCB.PIX0114+5511943214321520400005303986540566.665802BR5907EMPRESA"
    "6008BRASILIA62080503***6304170E"
)
PUBLISHED = [p for p, _ in EMV_VECTORS] + [PIX_BACEN_ISSUE_236, PIX_GIST_DYNAMIC]


@pytest.mark.parametrize("published", PUBLISHED)
def test_published_payloads_from_independent_sources_are_accepted(published: str) -> None:
    emv.parse(published)


def test_a_published_payload_with_a_wrong_length_is_refused() -> None:
    with pytest.raises(PayloadError, match="tag 62: length 8 but 7 characters follow"):
        emv.parse(PIX_GIST_STATIC_BAD_LENGTH)


def raw(*fields: tuple[str, str]) -> str:
    """A payload written by hand, without any check but a right CRC: the test's own TLV."""
    body = "".join(f"{tag}{len(value):02d}{value}" for tag, value in fields) + "6304"
    return body + emv.crc16(body)


PIX_ACCOUNT = "0014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
GOOD: dict[str, str] = {
    "00": "01",
    "01": "12",
    "26": PIX_ACCOUNT,
    "52": "0000",
    "53": "986",
    "54": "10.50",
    "58": "BR",
    "59": "Fulano de Tal",
    "60": "BRASILIA",
    "62": "05040Z8H",
}


def good_with(**changes: str | None) -> str:
    """The good Pix payload with some fields replaced (value) or removed (None), 't' + tag."""
    fields = dict(GOOD)
    for key, value in changes.items():
        tag = key.removeprefix("t")
        if value is None:
            fields.pop(tag, None)
        else:
            fields[tag] = value
    order = sorted(fields, key=lambda t: (t != "00", t))
    return raw(*((t, fields[t]) for t in order))


def test_the_good_payload_is_good() -> None:
    assert emv.lookup(emv.parse(good_with()), "62.05") == "0Z8H"


def emvco(**changes: str | None) -> str:
    """A generic EMVCo payload (not Pix), for rules Pix would hide."""
    fields = {**GOOD, "26": "0010A00000061501041234", "53": "458", "58": "MY", "62": "0503***"}
    for key, value in changes.items():
        tag = key.removeprefix("t")
        if value is None:
            fields.pop(tag, None)
        else:
            fields[tag] = value
    order = sorted(fields, key=lambda t: (t != "00", t))
    return raw(*((t, fields[t]) for t in order))


BROKEN = [  # (payload with one rule broken, the tag the error must name, a word of the rule)
    (good_with(t00="02"), "00", "must start with 000201"),
    (good_with(t00="1"), "00", "must start with 000201"),
    (good_with(t01="13"), "01", "not one of 11, 12"),
    (good_with(t01="1a"), "01", "digits only"),
    (good_with(t52="000"), "52", "3 characters, 4 allowed"),
    (good_with(t52="00A0"), "52", "digits only"),
    (emvco(t53="ABCD"), "53", "4 characters, 3 allowed"),
    (emvco(t53="ABC"), "53", "digits only"),
    (good_with(t53="840"), "53", "Pix: must be 986"),
    (emvco(t53=None), "53", "missing"),
    (good_with(t54="ten"), "54", "digits and at most one '.'"),
    (good_with(t54="10,50"), "54", "digits and at most one '.'"),
    (good_with(t54="1.0.5"), "54", "digits and at most one '.'"),
    (good_with(t54=" 10.50"), "54", "digits and at most one '.'"),
    (good_with(t54="0.00"), "54", "must not be zero"),
    (good_with(t54="12345678901.50"), "54", "14 characters, 1-13 allowed"),
    (emvco(t55="04"), "55", "not one of 01, 02, 03"),
    (emvco(t55="02"), "56", "if and only if tag 55 is 02"),
    (emvco(t56="1.00"), "56", "if and only if tag 55 is 02"),
    (emvco(t55="02", t56="1,00"), "56", "digits and at most one '.'"),
    (emvco(t55="03", t57="100.5"), "57", "not between 00.01 and 99.99"),
    (emvco(t55="03", t57="100.00"), "57", "6 characters, 1-5 allowed"),
    (emvco(t55="03"), "57", "if and only if tag 55 is 03"),
    (emvco(t58="BRA"), "58", "3 characters, 2 allowed"),
    (emvco(t58="br"), "58", "ISO 3166-1 alpha-2"),
    (emvco(t58="B1"), "58", "ISO 3166-1 alpha-2"),
    (emvco(t58=None), "58", "missing"),
    (good_with(t58="PT"), "58", "Pix: must be BR"),
    (good_with(t59="A" * 26), "59", "26 characters, 1-25 allowed"),
    (good_with(t59="São Paulo Lanches"), "59", "printable ASCII"),
    (good_with(t60="B" * 16), "60", "16 characters, 1-15 allowed"),
    (good_with(t60="BRAS\tLIA"), "60", "printable ASCII"),
    (good_with(t61="12345-6789-0"), "61", "12 characters, 1-10 allowed"),
    (good_with(t65="X"), "65", "reserved for future use"),
    (good_with(t79="X"), "79", "reserved for future use"),
    (emvco(t26=None), "02-51", "at least one merchant account"),
    (emvco(t26="0109123456789"), "26.00", "missing"),
    (emvco(t26="0033" + "A" * 33), "26.00", "33 characters, 1-32 allowed"),
    (emvco(t26="0010A0000006150104é234"), "26.01", "printable ASCII"),
    (emvco(t80="010212"), "80.00", "missing"),
    (emvco(t62="0526" + "R" * 26), "62.05", "26 characters, 1-25 allowed"),
    (emvco(t62="0126" + "R" * 26), "62.01", "26 characters, 1-25 allowed"),
    (emvco(t62="0904AMEA"), "62.09", "4 characters, 1-3 allowed"),
    (emvco(t62="0902AA"), "62.09", "each of A, M, E at most once"),
    (emvco(t62="0901X"), "62.09", "each of A, M, E at most once"),
    (emvco(t62="1003abc"), "62.10", "reserved for future use"),
    (emvco(t62="5004abcd"), "62.50", "expected a 2-digit tag"),
    (emvco(t64="0002ZH"), "64.01", "mandatory"),
    (emvco(t64="0003ZHO0104ABCD"), "64.00", "3 characters, 2 allowed"),
    (emvco(t64="00021Z0104ABCD"), "64.00", "two letters"),
    (emvco(t64="0002ZH0126" + "名" * 26), "64.01", "26 characters, 1-25 allowed"),
    (emvco(t64="0002ZH0104ABCD0316" + "X" * 16), "64.03", "reserved for future use"),
    (good_with(t26="0014br.gov.bcb.pix"), "26", "the key (01) or the location URL (25)"),
    (good_with(t26=PIX_ACCOUNT + "2509pix.bcb/x"), "26", "exactly one"),
    (good_with(t62=None), "62.05", "txid is mandatory"),
    (good_with(t62="0503A-B"), "62.05", "not *** or 1-25 letters/digits"),
    (good_with(t62="0504 0Z8"), "62.05", "not *** or 1-25 letters/digits"),
]


@pytest.mark.parametrize(("payload", "tag", "rule"), BROKEN)
def test_one_broken_rule_is_refused_naming_the_tag_and_the_rule(
    payload: str, tag: str, rule: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        emv.parse(payload)
    assert str(caught.value).startswith(f"tag {tag}"), caught.value
    assert rule in str(caught.value), caught.value


@pytest.mark.parametrize(
    "payload",
    [
        good_with(t54="98"),  # EMV QRCPS: "98.73", "98" and "98." are all valid amounts
        good_with(t54="98."),
        good_with(t62="0503***"),
        emvco(t55="01"),
        emvco(t55="02", t56="2.50"),
        emvco(t55="03", t57="00.01"),
        emvco(t55="03", t57="99.99"),
        emvco(t62="0903AME0503***"),
        emvco(t62="0503***5008" + "0004ABCD"),
        emvco(t64="0002ZH0104最佳运输0202北京"),
        emvco(t80="0004ABCD0102çã"),  # unreserved templates take any characters (format S)
        emvco(t61="12345-678"),
        good_with(t26=PIX_ACCOUNT + "0205Feira"),
    ],
)
def test_edge_values_the_rules_allow_are_accepted(payload: str) -> None:
    emv.parse(payload)


def test_every_rejection_carries_the_tag_for_callers() -> None:
    with pytest.raises(PayloadError) as caught:
        emv.parse(good_with(t59="A" * 26))
    assert caught.value.tag == "59"


def test_the_encoder_refuses_what_the_parser_refuses() -> None:
    with pytest.raises(PayloadError, match=r"tag 59 \(Merchant Name\): 26 characters"):
        emv.encode([("00", "01"), ("26", [("00", "A000000615")]), ("53", "458"),
                    ("58", "MY"), ("59", "A" * 26)])  # fmt: skip


def test_a_rail_built_around_the_config_check_is_refused_naming_the_key() -> None:
    from appliance.payments.config import EmvcoRail, PixRail

    pix = PixRail(key="123e4567-e12b-12d1-a456-426655440000", merchant="M" * 26, city="X")
    with pytest.raises(PaymentError, match="config key merchant: tag 59") as caught:
        payload(pix, Money(100, "BRL"), "0Z8H", "BRL")
    assert caught.value.field == "rail"
    other = EmvcoRail(gui="A000000615", merchant="M", city="C" * 16, country="MY")
    with pytest.raises(PaymentError, match="config key city: tag 60"):
        payload(other, None, None, "MYR")
    bad_country = EmvcoRail(gui="A000000615", merchant="M", city="C", country="MYS")
    with pytest.raises(PaymentError, match="config key country: tag 58"):
        payload(bad_country, None, None, "MYR")


# Every EMV-family rail, with values drawn up to the limits the config allows.
def ascii_text(most: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                   max_size=most)  # fmt: skip


@st.composite
def emv_rail(draw: st.DrawFn) -> tuple[dict[str, object], str]:
    kind = draw(st.sampled_from(["pix", "promptpay", "paynow", "upi", "emvco"]))
    merchant, city = draw(ascii_text(25)), draw(ascii_text(15))
    if kind == "pix":
        key = draw(st.sampled_from(["52998224725", "11222333000181", "+5511987654321",
                                    "a" * 50 + "@exemplo.com.br",
                                    "123e4567-e12b-12d1-a456-426655440000"]))  # fmt: skip
        most = min(40, 73 - len(key))  # 26 holds 4 + 14 (GUI) + 4 + key + 4 + description <= 99
        description = draw(st.one_of(st.just(""), ascii_text(most)))
        return {"kind": kind, "key": key, "merchant": merchant, "city": city,
                "description": description}, "BRL"  # fmt: skip
    if kind == "promptpay":
        proxy = draw(st.from_regex(r"0[0-9]{9}|[0-9]{13}|[0-9]{15}", fullmatch=True))
        return {"kind": kind, "id": proxy}, "THB"
    if kind == "paynow":
        proxy = draw(st.from_regex(r"\+65[89][0-9]{7}|[0-9A-Z]{9,10}", fullmatch=True))
        return {"kind": kind, "proxy": proxy, "merchant": merchant, "city": city,
                "editable": draw(st.booleans())}, "SGD"  # fmt: skip
    if kind == "upi":
        return {"kind": kind, "vpa": "chai.corner@okaxis", "payee": merchant, "form": "emv",
                "merchant_city": city}, "INR"  # fmt: skip
    gui = draw(st.text(string.ascii_uppercase + string.digits + ".", min_size=1, max_size=32))
    sub = draw(st.sampled_from(["01", "02", "25", "99"]))
    account = {sub: draw(ascii_text(99 - 8 - len(gui)))}
    return {"kind": kind, "gui": gui, "account": account, "account_tag":
            draw(st.sampled_from(["26", "29", "51"])), "merchant": merchant, "city": city,
            "country": draw(st.from_regex(r"[A-Z]{2}", fullmatch=True)),
            "mcc": draw(st.from_regex(r"[0-9]{4}", fullmatch=True))}, draw(
            st.sampled_from(["MYR", "USD", "JPY", "KWD"]))  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=emv_rail(),
    minor=st.one_of(st.none(), st.integers(1, 10**10), st.just(99_999_999_999)),
    reference=st.one_of(st.none(), st.from_regex(r"[0-9A-Z]{1,25}", fullmatch=True)),
)
def test_every_payload_the_rails_make_passes_the_strict_parser_and_scans(
    drawn: tuple[dict[str, object], str], minor: int | None, reference: str | None
) -> None:
    table, currency = drawn
    rails = parse_rails({"r": table}, currency, "stallbox.toml")
    registry = RailRegistry.from_config(rails, currency)
    amount = None if minor is None else Money(minor, currency)
    if amount is not None and len(amount.decimal()) > 13:  # tag 54 holds 13 characters
        with pytest.raises(PaymentError, match="13 characters"):
            registry.payload("r", amount, reference)
        return
    text = registry.payload("r", amount, reference)
    emv.parse(text)
    decoded, _ = decode_png(render_png(make_matrix(text)[0], 4))
    assert decoded == text
