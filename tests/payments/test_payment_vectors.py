"""Published payment QR vectors reproduce: parse, CRC and, where our generator applies, re-encode."""

from __future__ import annotations

import binascii

import pytest

from appliance.domain.money import Money
from appliance.payments import emv, epc
from appliance.payments.config import PixRail, PromptPayRail
from appliance.payments.errors import PayloadError
from appliance.payments.rails import pix, promptpay

# EMVCo QRCPS Merchant-Presented Mode v1.1, Appendix: the specification's own sample payload.
EMVCO_SAMPLE = (
    "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN"
    "5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***"
    "0708A60086670902ME91320016A0112233449988770708123456786304A13A"
)
# Banco Central do Brasil, Manual de Padrões para Iniciação do Pix: static example (CRC 1D3D).
PIX_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
    "5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
# Same manual, dynamic example (CRC 45C8); also the fixture of the `pixcode` npm package's README.
PIX_DYNAMIC = (
    "00020101021226720014br.gov.bcb.pix2550bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441"
    "5204000053039865406123.455802BR5913Fulano de Tal6008BRASILIA62190515RP12345678-2019630445C8"
)
# keenthekeen/php-promptpay-qr README: staticMerchantPresentedQR('089-999-9999')->setAmount(420).
PROMPTPAY_420 = (
    "00020101021229370016A000000677010111011300668999999995802TH53037645406420.006304CF9E"
)
# segno documentation, segno.helpers.make_epc_qr example (Wikimedia donation).
EPC_SEGNO = (
    "BCD\n002\n1\nSCT\n\nWikimedia Foerdergesellschaft\nDE33100205000001194700\nEUR20\n\n\n"
    "Spende fuer Wikipedia"
)


@pytest.mark.parametrize(
    ("payload", "crc"),
    [(EMVCO_SAMPLE, "A13A"), (PIX_STATIC, "1D3D"), (PIX_DYNAMIC, "45C8"), (PROMPTPAY_420, "CF9E")],
)
def test_published_emv_vectors_parse_and_their_crc_holds(payload: str, crc: str) -> None:
    parsed = emv.parse(payload)
    assert payload[-4:] == crc == emv.crc16(payload[:-4])
    assert format(binascii.crc_hqx(payload[:-4].encode("utf-8"), 0xFFFF), "04X") == crc
    assert parsed["00"] == "01"


def test_emvco_sample_fields() -> None:
    parsed = emv.parse(EMVCO_SAMPLE)
    assert emv.lookup(parsed, "59") == "BEST TRANSPORT"
    assert emv.lookup(parsed, "64.01") == "最佳运输"
    assert emv.lookup(parsed, "62.06") == "***"
    assert emv.lookup(parsed, "54") == "23.72"


def test_pix_static_example_is_what_our_pix_rail_makes() -> None:
    rail = PixRail(
        key="123e4567-e12b-12d1-a456-426655440000", merchant="Fulano de Tal", city="BRASILIA"
    )
    assert pix(rail, None, None) == PIX_STATIC


def test_pix_dynamic_example_fields() -> None:
    parsed = emv.parse(PIX_DYNAMIC)
    assert emv.lookup(parsed, "26.25") == "bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441"
    assert emv.lookup(parsed, "62.05") == "RP12345678-2019"


def test_promptpay_example_is_what_our_promptpay_rail_makes() -> None:
    assert promptpay(PromptPayRail(id="0899999999"), Money(42000, "THB"), None) == PROMPTPAY_420


def test_epc_example_parses_and_re_encodes() -> None:
    transfer = epc.parse(EPC_SEGNO)
    assert transfer.iban == "DE33100205000001194700"
    assert transfer.amount == "EUR20"
    assert transfer.text == "Spende fuer Wikipedia"
    assert epc.encode(transfer) == EPC_SEGNO


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (PIX_STATIC[:-4] + "1D3E", "tag 63: CRC 1D3E but the payload gives 1D3D"),
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
