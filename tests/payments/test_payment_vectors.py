"""Published payment QR vectors reproduce: parse, CRC and, where our generator applies, re-encode.

Every string below was copied from a public source named in its comment; none was made here.
"""

from __future__ import annotations

import binascii
import io
from collections.abc import Mapping

import pytest
import segno.helpers
from brcode.utils.brcodeId import jsonFromBrcode
from decode import decode_png

from appliance.domain.money import Money
from appliance.payments import emv, epc
from appliance.payments.config import PixRail, PromptPayRail, SepaRail
from appliance.payments.emv import Field
from appliance.payments.errors import PayloadError
from appliance.payments.rails import pix, promptpay, sepa

# EMV QR Code Specification for Payment Systems, Merchant-Presented Mode v1.1, the specification's
# own sample payload (CRC A13A): quoted as "the official sample" in ericsalim/exemvi's README and
# decoded in dongri/emv-qrcode's README.
EMVCO_SAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN"
    "5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***"
    "0708A60086670902ME91320016A0112233449988770708123456786304A13A"
)
# Banco Central do Brasil, Manual de Padrões para Iniciação do Pix / Manual BR Code: the static
# example (CRC 1D3D), also the fixture "gera exatamente o exemplo do manual do BR Code" of several
# public Pix generators.
PIX_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
# Same manual, the dynamic example (CRC 45C8); also the parser fixture of rprata/pixcode's README.
PIX_DYNAMIC = (
    "00020101021226720014br.gov.bcb.pix2550bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441"
    "5204000053039865406123.455802BR5913Fulano de Tal6008BRASILIA62190515RP12345678-2019630445C8"
)
# keenthekeen/php-promptpay-qr and kittinan/php-promptpay-qr READMEs:
# staticMerchantPresentedQR('0899999999') and the same with setAmount(420).
PROMPTPAY_SIGN = "00020101021129370016A000000677010111011300668999999995802TH53037646304FE29"
PROMPTPAY_420 = (
    "00020101021229370016A000000677010111011300668999999995802TH53037645406420.006304CF9E"
)
# segno documentation, docs/epc-qrcodes.rst (heuer/segno): make_epc_qr(name='Wikimedia
# Foerdergesellschaft', iban='DE33100205000001194700', amount=20, text='Spende fuer Wikipedia')
# "encodes the following information" - character set 2 (ISO 8859-1), segno's minimal choice;
# and the same donation of 13.05 with encoding='utf-8' (character set 1, what we write).
EPC_SEGNO = (
    "BCD\n002\n2\nSCT\n\nWikimedia Foerdergesellschaft\nDE33100205000001194700\nEUR20\n\n\n"
    "Spende fuer Wikipedia"
)
EPC_SEGNO_UTF8 = (
    "BCD\n002\n1\nSCT\n\nWikimedia Foerdergesellschaft\nDE33100205000001194700\nEUR13.05\n\n\n"
    "Spende fuer Wikipedia"
)
EMV_VECTORS = [
    (EMVCO_SAMPLE, "A13A"),
    (PIX_STATIC, "1D3D"),
    (PIX_DYNAMIC, "45C8"),
    (PROMPTPAY_SIGN, "FE29"),
    (PROMPTPAY_420, "CF9E"),
]


def fields_of(parsed: Mapping[str, str | Mapping[str, str]]) -> list[Field]:
    """Turn a parse back into encoder input, in the payload's own order."""
    return [
        (tag, value if isinstance(value, str) else list(value.items()))
        for tag, value in parsed.items()
    ]


@pytest.mark.parametrize(("payload", "crc"), EMV_VECTORS)
def test_published_emv_vectors_parse_crc_and_re_encode(payload: str, crc: str) -> None:
    parsed = emv.parse(payload)
    assert payload[-4:] == crc == emv.crc16(payload[:-4])
    assert format(binascii.crc_hqx(payload[:-4].encode("utf-8"), 0xFFFF), "04X") == crc
    assert emv.encode(fields_of(parsed)) == payload  # our TLV encoder rebuilds it byte for byte


@pytest.mark.parametrize(("payload", "crc"), EMV_VECTORS[1:])  # brcode does not take tag 64
def test_published_vectors_agree_with_an_independent_parser(payload: str, crc: str) -> None:
    independent = jsonFromBrcode(payload)
    ours = emv.parse(payload)
    assert independent["63"] == crc
    assert independent["58"] == ours["58"] and independent["53"] == ours["53"]


def test_emvco_sample_fields() -> None:
    parsed = emv.parse(EMVCO_SAMPLE)
    assert emv.lookup(parsed, "59") == "BEST TRANSPORT"
    assert emv.lookup(parsed, "64.01") == "最佳运输"  # lengths count characters, CRC takes UTF-8
    assert emv.lookup(parsed, "62.06") == "***"
    assert emv.lookup(parsed, "54") == "23.72"
    assert emv.lookup(parsed, "29.00") == "D15600000000"


def test_pix_static_example_is_what_our_pix_rail_makes() -> None:
    rail = PixRail(
        key="123e4567-e12b-12d1-a456-426655440000", merchant="Fulano de Tal", city="BRASILIA"
    )
    assert pix(rail, None, None) == PIX_STATIC


def test_pix_dynamic_example_fields() -> None:
    parsed = emv.parse(PIX_DYNAMIC)
    assert emv.lookup(parsed, "26.25") == "bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441"
    assert emv.lookup(parsed, "62.05") == "RP12345678-2019"
    assert emv.lookup(parsed, "54") == "123.45"


def test_promptpay_examples_are_what_our_promptpay_rail_makes() -> None:
    rail = PromptPayRail(id="0899999999")
    assert promptpay(rail, None, None) == PROMPTPAY_SIGN
    assert promptpay(rail, Money(42000, "THB"), None) == PROMPTPAY_420


def test_segno_epc_examples_parse_and_re_encode() -> None:
    transfer = epc.parse(EPC_SEGNO)
    assert (transfer.charset, transfer.iban, transfer.amount) == (
        "2",
        "DE33100205000001194700",
        "EUR20",
    )
    assert transfer.name == "Wikimedia Foerdergesellschaft"
    assert transfer.text == "Spende fuer Wikipedia"
    assert epc.encode(transfer) == EPC_SEGNO
    assert epc.parse(EPC_SEGNO_UTF8).amount == "EUR13.05"


def test_our_sepa_rail_makes_segnos_utf8_example_and_matches_segno_itself() -> None:
    rail = SepaRail(name="Wikimedia Foerdergesellschaft", iban="DE33100205000001194700")
    transfer = epc.parse(sepa(rail, Money(1305, "EUR"), None))
    ours = epc.encode(
        epc.Transfer(
            name=transfer.name,
            iban=transfer.iban,
            amount=transfer.amount,
            text="Spende fuer Wikipedia",
        )
    )
    assert ours == EPC_SEGNO_UTF8
    # segno's own generator, through its public API: make the code, scan it back with zxing.
    for name in ("Wikimedia Foerdergesellschaft", "Crêperie Lüneburg"):
        image = io.BytesIO()
        segno.helpers.make_epc_qr(
            name=name, iban="DE33100205000001194700", amount=13.05, text="Spende", encoding="utf-8"
        ).save(image, kind="png", scale=4)
        theirs, level = decode_png(image.getvalue())
        mine = epc.encode(
            epc.Transfer(name=name, iban="DE33100205000001194700", amount="EUR13.05", text="Spende")
        )
        assert (mine, "M") == (theirs, level)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (PIX_STATIC[:-4] + "1D3E", "tag 63: CRC 1D3E but the payload gives 1D3D"),
        (PIX_STATIC[:-4] + "1d3d", "tag 63: CRC 1d3d"),  # 4 uppercase hex digits, nothing else
        ("0002010102", "tag 63"),
        (PIX_STATIC.replace("5913Fulano", "5914Fulano"), "CRC"),
        ("0102120002016304" + emv.crc16("0102120002016304"), "tag 00"),
    ],
)
def test_bad_payloads_are_refused_naming_the_tag(payload: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        emv.parse(payload)


def test_a_wrong_length_is_named() -> None:
    body = "000201" + "5999Fulano" + "6304"
    with pytest.raises(PayloadError, match="tag 59: length 99"):
        emv.parse(body + emv.crc16(body))


def test_a_wrong_nested_length_is_named() -> None:
    body = "000201" + "26080014br.g" + "5303986" + "5802BR" + "6304"
    with pytest.raises(PayloadError, match="tag 26: tag 00: length 14"):
        emv.parse(body + emv.crc16(body))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (EPC_SEGNO.replace("\n2\n", "\n9\n", 1), "character set: '9'"),
        (EPC_SEGNO.replace("DE33", "DE34"), "iban: checksum fails"),
        (EPC_SEGNO.replace("EUR20", "EUR0"), "amount"),
        (EPC_SEGNO.replace("EUR20", "EUR20.001"), "amount"),
        (EPC_SEGNO + "\n", "canonical"),
    ],
)
def test_bad_epc_payloads_are_refused_naming_the_field(payload: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        epc.parse(payload)
