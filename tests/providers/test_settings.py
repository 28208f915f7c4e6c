"""The [provider] table and the credentials in the state dir: each mistake named, secrets private."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.config import parse_config, sample_config
from appliance.errors import ConfigError
from appliance.providers.errors import CredentialsError
from appliance.providers.settings import load_credentials

PIX = '\n[rails.pix]\nkind = "pix"\nkey = "ana@example.com"\nmerchant = "PASTEL DA ANA"\ncity = "RECIFE"\n'
PROVIDER = ('\n[provider]\nkind = "apipix"\nbase_url = "https://pix.example.com/api/v2/"\n'
            'token_url = "https://pix.example.com/oauth/token"\n')  # fmt: skip


def test_a_provider_table_is_read_with_its_defaults() -> None:
    config = parse_config(sample_config("BRL") + PIX + PROVIDER)
    assert config.provider is not None
    assert config.provider.base_url == "https://pix.example.com/api/v2"
    assert (config.provider.rail, config.provider.name, config.provider.poll_s) == (
        "pix",
        "apipix",
        1.0,
    )
    assert parse_config(sample_config("BRL") + PIX).provider is None


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("poll_s = 0.0\n", "provider.poll_s"),
        ('rail = "upi"\n', "provider.rail"),
        ("timeout_s = 99.0\n", "provider.timeout_s"),
        ("lookback_h = 0\n", "provider.lookback_h"),
        ('secret = "x"\n', "provider.secret"),
    ],
)
def test_each_bad_key_is_named(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(sample_config("BRL") + PIX + PROVIDER + extra)
    assert caught.value.field == key


def test_a_plain_http_url_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            sample_config("BRL") + PIX + PROVIDER.replace("https://pix.example.com/api", "http://x")
        )
    assert caught.value.field == "provider.base_url"


def credentials(state: Path, mode: int = 0o600, oauth: object = None) -> Path:
    where = state / "provider"
    where.mkdir(parents=True)
    for name in ("client.pem", "client.key"):
        (where / name).write_text("x")
    (where / "client.key").chmod(mode)
    (where / "oauth.json").write_text(json.dumps(oauth or {"client_id": "a", "client_secret": "b"}))
    (where / "oauth.json").chmod(0o600)
    return where


def test_credentials_are_read_from_the_state_dir(tmp_path: Path) -> None:
    credentials(tmp_path)
    found = load_credentials(tmp_path)
    assert found.client_id == "a" and found.ca_file is None and "b" not in repr(found).split("'")


@pytest.mark.parametrize(
    ("mode", "oauth", "named", "problem"),
    [
        (0o640, None, "client.key", "must be 0600"),
        (0o600, {"client_id": "a"}, "oauth.json", "client_secret"),
        (0o600, {"client_id": "", "client_secret": ""}, "oauth.json", "must be set"),
    ],
)
def test_a_readable_key_or_a_bad_oauth_file_is_refused(
    tmp_path: Path, mode: int, oauth: object, named: str, problem: str
) -> None:
    credentials(tmp_path, mode, oauth)
    with pytest.raises(CredentialsError) as caught:
        load_credentials(tmp_path)
    assert named in str(caught.value) and problem in str(caught.value)


def test_missing_credentials_are_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"client\.key: missing"):
        load_credentials(tmp_path)
