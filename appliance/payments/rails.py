"""Payloads per rail: what the payer's app reads from the QR, with the amount and the reference.

Offline, a provider-hosted dynamic code is impossible, so each order gets a static code that
carries its amount and its unique, speakable reference (DESIGN §4):
EMVCo family (Pix, PromptPay, PayNow, BharatQR UPI, any scheme by GUI) in tag 54 and 62-05; the
UPI link in `am` and `tr`; EPC069-12 (GiroCode) in the amount line and an RF reference.
Without an amount the same functions make the stall's printed sign.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

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
)
from appliance.payments.emv import Field
from appliance.payments.errors import PayloadError, PaymentError
from appliance.payments.ids import rf_reference

NUMERIC = emv.CURRENCY_CODES  # ISO 4217 numeric codes for EMV tag 53

EPC_MAX_AMOUNT = Money(99_999_999_999, "EUR")


def _amount(amount: Money | None) -> list[Field]:
    if amount is None:
        return []
    if amount.minor <= 0:
        raise PaymentError(f"amount {amount} must be positive", "amount")
    text = amount.decimal()
    if len(text) > 13:
        raise PaymentError(f"amount {amount} does not fit EMV tag 54 (13 characters)", "amount")
    return [("54", text)]


def _initiation(amount: Money | None) -> Field:
    """01: 11 for a reusable sign, 12 for an order's one-time code."""
    return ("01", "12" if amount is not None else "11")


def _reference(reference: str | None, most: int = 25) -> str:
    if reference is None:
        return "***"
    if not reference.isalnum() or not reference.isascii() or len(reference) > most:
        raise PaymentError(f"reference {reference!r}: 1-{most} letters or digits", "reference")
    return reference


def _emv(fields: list[Field], keys: Mapping[str, str]) -> str:
    """Encode; a tag a strict reader would refuse is named with the config key behind it."""
    try:
        return emv.encode(fields)
    except PayloadError as exc:
        tag = exc.tag or ""
        if tag == "54":
            raise PaymentError(str(exc), "amount") from None
        if tag.startswith("62"):
            raise PaymentError(str(exc), "reference") from None
        key = keys.get(tag) or keys.get(tag.partition(".")[0], "the rail's configuration")
        raise PaymentError(f"config key {key}: {exc}", "rail") from None


def pix(rail: PixRail, amount: Money | None, reference: str | None) -> str:
    """BR Code (Pix) static payload: key in 26, amount in 54, txid in 62-05."""
    account: list[Field] = [("00", "br.gov.bcb.pix"), ("01", rail.key)]
    if rail.description:
        account.append(("02", rail.description))
    return _emv(
        [
            ("00", "01"),
            ("26", account),
            ("52", "0000"),
            ("53", NUMERIC["BRL"]),
            *_amount(amount),
            ("58", "BR"),
            ("59", rail.merchant),
            ("60", rail.city),
            ("62", [("05", _reference(reference))]),
        ],
        {
            "26.01": "key",
            "26.02": "description",
            "26": "description",
            "59": "merchant",
            "60": "city",
        },
    )


def promptpay(rail: PromptPayRail, amount: Money | None, reference: str | None) -> str:
    """Thai QR PromptPay credit transfer: proxy in 29, as the Bank of Thailand's apps expect."""
    if len(rail.id) == 10:
        proxy: Field = ("01", "0066" + rail.id[1:])  # mobile: country code, no trunk zero
    elif len(rail.id) == 13:
        proxy = ("02", rail.id)
    else:
        proxy = ("03", rail.id)
    fields: list[Field] = [
        ("00", "01"),
        _initiation(amount),
        ("29", [("00", "A000000677010111"), proxy]),
        ("58", "TH"),
        ("53", NUMERIC["THB"]),
        *_amount(amount),
    ]
    if reference is not None:
        fields.append(("62", [("05", _reference(reference))]))
    return _emv(fields, {"29": "id"})


def paynow(rail: PayNowRail, amount: Money | None, reference: str | None) -> str:
    """SGQR PayNow: proxy in 26 under SG.PAYNOW, reference in 62-01 (bill number)."""
    kind = "0" if rail.proxy.startswith("+65") else "2"
    return _emv(
        [
            ("00", "01"),
            _initiation(amount),
            (
                "26",
                [
                    ("00", "SG.PAYNOW"),
                    ("01", kind),
                    ("02", rail.proxy),
                    ("03", "1" if rail.editable else "0"),
                ],
            ),
            ("52", "0000"),
            ("53", NUMERIC["SGD"]),
            *_amount(amount),
            ("58", "SG"),
            ("59", rail.merchant),
            ("60", rail.city),
            ("62", [("01", _reference(reference))]),
        ],
        {"26": "proxy", "59": "merchant", "60": "city"},
    )


def emvco(rail: EmvcoRail, amount: Money | None, reference: str | None, currency: str) -> str:
    """Any EMVCo MPM scheme named by its GUI, with the stall's currency."""
    if currency not in NUMERIC:
        raise PaymentError(f"currency {currency} has no ISO 4217 numeric code here")
    account: list[Field] = [("00", rail.gui), *sorted(rail.account.items())]
    return _emv(
        [
            ("00", "01"),
            _initiation(amount),
            (rail.account_tag, account),
            ("52", rail.mcc),
            ("53", NUMERIC[currency]),
            *_amount(amount),
            ("58", rail.country),
            ("59", rail.merchant),
            ("60", rail.city),
            ("62", [("05", _reference(reference))]),
        ],
        {
            rail.account_tag: "account",
            f"{rail.account_tag}.00": "gui",
            "52": "mcc",
            "58": "country",
            "59": "merchant",
            "60": "city",
        },
    )


def upi(rail: UpiRail, amount: Money | None, reference: str | None) -> str:
    """UPI: the `upi://pay` deep link (percent-encoded, %20 for spaces) or its BharatQR EMV form."""
    if rail.form == "emv":
        account: list[Field] = [("00", "A000000524"), ("01", rail.vpa)]
        return _emv(
            [
                ("00", "01"),
                _initiation(amount),
                ("26", account),
                ("52", "0000"),
                ("53", NUMERIC["INR"]),
                *_amount(amount),
                ("58", "IN"),
                ("59", rail.payee),
                ("60", rail.merchant_city),
                ("62", [("05", _reference(reference))]),
            ],
            {"26": "vpa", "59": "payee", "60": "merchant_city"},
        )
    params = [("pa", rail.vpa), ("pn", rail.payee)]
    if amount is not None:
        if amount.minor <= 0:
            raise PaymentError(f"amount {amount} must be positive", "amount")
        params.append(("am", amount.decimal()))
    params.append(("cu", "INR"))
    if reference is not None:
        params.append(("tr", _reference(reference, 35)))
    if rail.note or reference is not None:
        params.append(("tn", rail.note or f"Order {reference}"))
    return "upi://pay?" + "&".join(f"{k}={quote(v, safe='@.-_')}" for k, v in params)


def sepa(rail: SepaRail, amount: Money | None, reference: str | None) -> str:
    """EPC069-12 version 002 (GiroCode): the order's RF reference, or text naming the order."""
    amount_line = ""
    if amount is not None:
        if not 0 < amount.minor <= EPC_MAX_AMOUNT.minor:
            raise PaymentError(f"amount {amount}: EPC takes 0.01 to 999999999.99 EUR", "amount")
        amount_line = "EUR" + amount.decimal().rstrip("0").rstrip(".")
    structured = text = ""
    if reference is not None:
        if rail.reference == "structured":  # ISO 11649: RF, 2 check digits, <= 21 more
            structured = rf_reference(_reference(reference, 21))
        else:
            text = f"Order {_reference(reference)}"
    transfer = epc.Transfer(
        name=rail.name, iban=rail.iban.replace(" ", "").upper(), bic=rail.bic, amount=amount_line,
        reference=structured, text=text,
    )  # fmt: skip
    try:
        return epc.encode(transfer)
    except PayloadError as exc:
        raise PaymentError(f"EPC: {exc}") from None


def payload(rail: RailConfig, amount: Money | None, reference: str | None, currency: str) -> str:
    """The QR text for `rail`; amount None makes a reusable sign."""
    if amount is not None and amount.currency != currency:
        raise PaymentError(f"amount in {amount.currency}, the stall sells in {currency}", "amount")
    if isinstance(rail, PixRail):
        return pix(rail, amount, reference)
    if isinstance(rail, PromptPayRail):
        return promptpay(rail, amount, reference)
    if isinstance(rail, PayNowRail):
        return paynow(rail, amount, reference)
    if isinstance(rail, EmvcoRail):
        return emvco(rail, amount, reference, currency)
    if isinstance(rail, UpiRail):
        return upi(rail, amount, reference)
    if isinstance(rail, SepaRail):
        return sepa(rail, amount, reference)
    assert isinstance(rail, CashRail)
    raise PaymentError("cash has no payment code", "rail")
