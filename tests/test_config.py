"""Config: one clear error naming the file and the key; unknown keys refused; sample parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load_config, parse_config, sample_config
from appliance.errors import ConfigError


def test_the_sample_config_is_valid_in_any_currency() -> None:
    for currency in ("BRL", "JPY", "KWD", "EUR"):
        config = parse_config(sample_config(currency))
        assert config.currency == currency
        assert config.catalog
        assert (config.port, config.operator_port) == (8080, 8443)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[stall]\ncurrency = "XXX"\n', "stallbox.toml: stall.currency: unknown currency 'XXX'"),
        ("[stal]\n", "stallbox.toml: stal: unknown key"),
        ("[stall]\nnmae = 'x'\n", "stallbox.toml: stall.nmae: unknown key"),
        ('[node]\nport = "80"\n', "stallbox.toml: node.port: expected `int`, got `str`"),
        ("[node]\nport = 70000\n", "stallbox.toml: node.port: 70000 is not a TCP port"),
        ("[node]\noperator_port = -1\n", "stallbox.toml: node.operator_port: -1 is not a TCP port"),
        (
            "[node]\nport = 9000\noperator_port = 9000\n",
            "stallbox.toml: node.operator_port: 9000 is node.port already",
        ),
        ("[node]\ntls = false\n", "stallbox.toml: node.tls: unknown key"),  # no plain mode
        ("[stall\n", "stallbox.toml: not valid TOML"),
        (
            '[[catalog]]\nsku = "a"\nname = "A"\nprice = "1.234"\n',
            "stallbox.toml: catalog[0].price: '1.234' has 3 decimals, BRL allows 2",
        ),
        (
            '[[catalog]]\nsku = "a"\nname = "A"\nprice = "1"\n[[catalog]]\nsku = "a"\nname = "B"\nprice = "2"\n',
            "stallbox.toml: catalog[1].sku: 'a' is listed twice",
        ),
        (
            '[policy.rails.pix]\nper_sale_limit = "lots"\n',
            "stallbox.toml: policy.rails.pix.per_sale_limit: 'lots' is not a decimal amount",
        ),
        (
            '[policy.rails.pix]\nper_sale = "10"\n',
            "stallbox.toml: policy.rails.pix.per_sale: unknown key",
        ),
    ],
)
def test_bad_config_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert str(caught.value).startswith(message)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"{tmp_path / 'nope.toml'}: file not found"):
        load_config(tmp_path / "nope.toml")


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "stallbox.toml"
    path.write_bytes(b"\xff\xfe[stall]\n")
    with pytest.raises(ConfigError, match=f"{path}: cannot read"):
        load_config(path)
