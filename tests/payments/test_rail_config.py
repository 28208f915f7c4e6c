"""Bad rail config: one error naming the field and the rule; nothing truncated silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from decode import decode_png

from appliance.config import parse_config
from appliance.errors import ConfigError
from appliance.payments.config import parse_rails

REPO = Path(__file__).resolve().parents[2]
PIX = {"kind": "pix", "key": "+5511999998888", "merchant": "PASTELARIA", "city": "SAO PAULO"}


@pytest.mark.parametrize(
    ("rails", "currency", "message"),
    [
        ({"sepa": {"kind": "sepa", "name": "A", "iban": "DE33100205000001194701"}}, "EUR", "rails.sepa.iban: checksum fails"),
        ({"pix": {**PIX, "city": "SAO PAULO CAPITA"}}, "BRL", "rails.pix.city: 16 characters, at most 15"),
        ({"pix": {**PIX, "merchant": "X" * 26}}, "BRL", "rails.pix.merchant: 26 characters, at most 25"),
        ({"pix": {**PIX, "city": "São Paulo"}}, "BRL", "rails.pix.city: 'São Paulo' has 'ã'"),
        ({"pix": {**PIX, "key": "52998224726"}}, "BRL", "rails.pix.key: CPF check digits fail"),
        ({"pix": {**PIX, "key": "nobody"}}, "BRL", "rails.pix.key: 'nobody' is not a Pix key"),
        ({"pix": {**PIX, "zip": "1"}}, "BRL", "rails.pix.zip: unknown key"),
        ({"pix": {"kind": "pix", "merchant": "A", "city": "B"}}, "BRL", "rails.pix.key: missing"),
        ({"pix": PIX}, "EUR", "rails.pix.kind: pix takes BRL, the stall sells in EUR"),
        ({"x": {"kind": "bitcoin"}}, "BRL", "rails.x.kind: invalid value 'bitcoin'"),
        ({"x": {"merchant": "A"}}, "BRL", "rails.x.kind: missing"),
        ({"pix": {**PIX, "max_amount": "1.234"}}, "BRL", "rails.pix.max_amount: '1.234' has 3 decimals"),
        ({"pp": {"kind": "promptpay", "id": "12345"}}, "THB", "rails.pp.id: a 10-digit mobile number"),
        ({"upi": {"kind": "upi", "vpa": "nope", "payee": "A"}}, "INR", "rails.upi.vpa: 'nope' is not a UPI address"),
        ({"sepa": {"kind": "sepa", "name": "A", "iban": "DE33100205000001194700", "bic": "xx"}}, "EUR", "rails.sepa.bic"),
        ({"pix": {**PIX, "key": "joão@feira.br"}}, "BRL", "rails.pix.key: 'joão@feira.br' has 'ã'"),
        ({"pix": {**PIX, "key": "a" * 60 + "@feira.com.br", "description": "Feira de domingo"}}, "BRL",
         "rails.pix.description: the merchant account field (tag 26) would be 115 characters, at most 99"),
        ({"pix": {**PIX, "city": 5}}, "BRL", "rails.pix.city: expected `str`, got `int`"),
        ({"pix": {**PIX, "min_amount": "50", "max_amount": "10"}}, "BRL",
         "rails.pix.min_amount: 50.00 BRL is more than max_amount 10.00 BRL"),
        ({"pix": {**PIX, "min_amount": "-1"}}, "BRL", "rails.pix.min_amount: '-1' must be more than 0"),
        ({"sepa": {"kind": "sepa", "name": "Line\nbreak", "iban": "DE33100205000001194700"}}, "EUR",
         "rails.sepa.name: 1-70 printable characters, no line breaks"),
        ({"sepa": {"kind": "sepa", "name": "N" * 71, "iban": "DE33100205000001194700"}}, "EUR",
         "rails.sepa.name: 71 characters, at most 70"),
        ({"sepa": {"kind": "sepa", "name": "🥞" * 70, "iban": "DE33100205000001194700"}}, "EUR",
         "rails.sepa.name: an order's EPC payload would be too large (payload: 368 bytes, at most 331)"),
        ({"sepa": {"kind": "sepa", "name": "A", "iban": "DE3310020500000119470"}}, "EUR", "rails.sepa.iban: checksum fails"),
        ({"e": {"kind": "emvco", "gui": "A000000615", "account": {"01": "X" * 40, "02": "Y" * 40},
                "merchant": "M", "city": "C", "country": "MY"}}, "MYR",
         "rails.e.account: the merchant account field (tag 26) would be 102 characters, at most 99"),
        ({"e": {"kind": "emvco", "gui": "A000000615", "account": {}, "merchant": "M", "city": "C",
                "country": "my"}}, "MYR", "rails.e.country: an ISO 3166 two-letter code"),
        ({"pn": {"kind": "paynow", "proxy": "91234567", "merchant": "M"}}, "SGD", "rails.pn.proxy: a +65 mobile"),
        ({"Pix": PIX}, "BRL", "rails.Pix: rail names are 1-32 of a-z 0-9 _ -"),
    ],
)  # fmt: skip
def test_bad_rails_name_the_field_and_the_rule(
    rails: dict[str, Any], currency: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rails(rails, currency, "stallbox.toml")
    assert str(caught.value).startswith(f"stallbox.toml: {message}")


def test_rails_are_checked_when_the_config_loads() -> None:
    with pytest.raises(ConfigError, match=r"rails\.pix\.city: 16 characters, at most 15"):
        parse_config(
            '[rails.pix]\nkind = "pix"\nkey = "a@b.co"\nmerchant = "M"\ncity = "SAO PAULO CAPITA"\n'
        )


def stallbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


def test_stallbox_qr_writes_a_png_and_prints_a_sign(tmp_path: Path) -> None:
    config = tmp_path / "stallbox.toml"
    config.write_text('[rails.pix]\nkind = "pix"\nkey = "a@b.co"\nmerchant = "M"\ncity = "C"\n')
    made = stallbox("qr", "--config", str(config), "--rail", "pix", "--amount", "12.50", "--ref", "001Y",
                    "--png", str(tmp_path / "qr.png"))  # fmt: skip
    assert made.returncode == 0, made.stderr
    text, _level = decode_png((tmp_path / "qr.png").read_bytes())
    assert text == made.stderr.strip() and "540512.50" in text and "0504001Y" in text
    sign = stallbox("qr", "--config", str(config), "--rail", "pix")
    assert sign.returncode == 0 and "█" in sign.stdout
    bad = stallbox("qr", "--config", str(config), "--rail", "pix", "--amount", "1.234")
    assert bad.returncode == 2 and "--amount" in bad.stderr and "3 decimals" in bad.stderr
    missing = stallbox("qr", "--config", str(config), "--rail", "upi")
    assert missing.returncode == 2 and "not configured" in missing.stderr
