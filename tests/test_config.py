"""Config: one clear error naming the file and the key; unknown keys refused; sample parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import load_config, parse_config, require_for_node, sample_config
from appliance.errors import ConfigError


def test_the_sample_config_is_valid_in_any_currency() -> None:
    for currency in ("BRL", "JPY", "KWD", "EUR"):
        config = parse_config(sample_config(currency))
        assert config.currency == currency
        assert config.catalog
        assert config.storage_warn_free_mb == 64  # the documented default, in the sample too
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
        ("[storage]\nwarn_free_mb = -1\n", "stallbox.toml: storage.warn_free_mb: must be 0"),
        ("[storage]\nwarn_free = 1\n", "stallbox.toml: storage.warn_free: unknown key"),
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
            '[[catalog]]\nsku = "a"\nname = "A"\nprice = "10000000000"\n',
            "stallbox.toml: catalog[0].price: '10000000000' is over 9999999999.99",
        ),
        (
            '[policy.rails.pix]\nper_sale = "10"\n',
            "stallbox.toml: policy.rails.pix.per_sale: unknown key",
        ),
        ('[stall]\nreference_prefix = "b"\n', "stallbox.toml: stall.reference_prefix: 'b': 0-2"),
        ('[stall]\nreference_prefix = "ABC"\n', "stallbox.toml: stall.reference_prefix: 'ABC'"),
        ('[stall]\nreference_prefix = "DA"\n', "stallbox.toml: stall.reference_prefix: 'DA': must"),
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "stallbox.toml: stall.name: missing: the node needs the stall's name"),
        ("[stall]\n", "stallbox.toml: stall.name: missing"),
        ('[stall]\nname = "Ana"\n', "stallbox.toml: stall.currency: missing"),
        ('[stall]\nname = "Ana"\ncurrency = "BRL"\n', "stallbox.toml: catalog: no items"),
    ],
)
def test_the_node_refuses_a_config_without_a_stall_naming_the_key(text: str, message: str) -> None:
    config = parse_config(text)  # `qr` and `sync` need none of these
    with pytest.raises(ConfigError) as caught:
        require_for_node(config)
    assert str(caught.value).startswith(message)


def test_missing_and_empty_sections_take_the_documented_defaults() -> None:
    text = '[stall]\nname = "Ana"\ncurrency = "EUR"\n[node]\n[sync]\n[policy]\n[drops]\n'
    text += '[[catalog]]\nsku = "a"\nname = "A"\nprice = "1"\n'
    config = require_for_node(parse_config(text))
    assert (config.host, config.port, config.discovery) == ("0.0.0.0", 8080, "all")
    assert (config.order_hold_s, config.sync_upload_cap, config.sync_rush_pause_s) == (900, 0, 120)
    assert (config.drop_hold_s, config.drop_max_hold_s) == (120, 600)
    assert require_for_node(parse_config(sample_config("BRL"))).stall_name == "My Stall"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[drops]\nhold_s = 0\n", "stallbox.toml: drops.hold_s: must be 1-600 seconds"),
        ("[drops]\nhold_s = 700\n", "stallbox.toml: drops.hold_s: must be 1-600 seconds"),
        ("[drops]\nmax_hold_s = 7201\n", "stallbox.toml: drops.max_hold_s: must be 1-7200"),
        ("[drops]\nhold_s = 300\nmax_hold_s = 200\n", "stallbox.toml: drops.hold_s: must be 1-200"),
    ],
)
def test_drop_holds_are_bounded(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert str(caught.value).startswith(message)


PIX_RAIL = (
    '[rails.pix]\nkind = "pix"\nkey = "ana@example.com"\nmerchant = "ANA"\ncity = "SAO PAULO"\n'
)


def test_a_policy_for_a_rail_not_configured_names_the_key() -> None:
    # issue 22: [policy.rails.Pix] for the rail `pix` loaded silently and its limit was ignored
    with pytest.raises(ConfigError) as caught:
        parse_config(PIX_RAIL + '[policy.rails.Pix]\nper_sale_limit = "1.00"\n')
    assert str(caught.value).startswith("stallbox.toml: policy.rails.Pix: no tender named 'Pix'")
    assert "did you mean 'pix'" in str(caught.value)


def test_a_policy_for_a_configured_rail_or_cash_loads() -> None:
    text = PIX_RAIL + '[policy.rails.pix]\nper_sale_limit = "1.00"\n[policy.rails.cash]\n'
    config = parse_config(text)
    assert config.rail_limits["pix"].per_sale is not None
    assert config.rail_limits["pix"].per_sale.minor == 100


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("bogus = 1\n", "bogus"),
        ('[stall]\nnmae = "x"\n', "stall.nmae"),
        ("[discovery]\nx = 1\n", "discovery.x"),
        ("[sync]\nx = 1\n", "sync.x"),
        ("[drops]\nx = 1\n", "drops.x"),
        ("[policy]\nx = 1\n", "policy.x"),
        ("[policy.rails.cash]\nx = 1\n", "policy.rails.cash.x"),
        ('[[catalog]]\nsku = "a"\nname = "A"\nprice = "1"\ncolour = "red"\n', "catalog[0].colour"),
        (PIX_RAIL + "tip = 1\n", "rails.pix.tip"),
        ("[policy.rails.pxi]\n", "policy.rails.pxi"),  # a limit on a rail that is not there
    ],
)
def test_every_unknown_key_is_refused_by_name(text: str, key: str) -> None:
    # docs/configuration.md: "Unknown keys are refused" — in every table (issue 22)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert str(caught.value).startswith(f"stallbox.toml: {key}: ")
