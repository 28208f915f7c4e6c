"""The `[provider]` table of stallbox.toml and the credentials it needs from the state dir.

The table says which provider to ask and how often; the secrets never go in the config file
(it is 0644 and gets pasted into support chats). They live in `<state dir>/provider/`, each
file private to the node's user (mode 0600, refused otherwise, like ssh refuses a readable key):

    provider/client.pem   the client certificate the PSP issued for mutual TLS
    provider/client.key   its private key                                    (0600)
    provider/oauth.json   {"client_id": "...", "client_secret": "..."}        (0600)
    provider/ca.pem       optional: the PSP's CA, where it is not a public one

docs/configuration.md "[provider]" documents every key.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

from appliance.errors import ConfigError, config_field_error, field_and_problem
from appliance.payments.config import PixRail
from appliance.providers.errors import CredentialsError

PROVIDER_DIR = "provider"
PRIVATE = ("client.key", "oauth.json")


class RawProvider(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    kind: Literal["apipix"]
    rail: str = "pix"
    name: str = ""  # how evidence names it: "provider:<name>"; default the kind
    base_url: str  # the API's root, e.g. https://pix.example.com/api/v2
    token_url: str  # the OAuth2 token endpoint
    scope: str = "pix.read"
    poll_s: float = 1.0  # while Pix orders wait for payment
    recheck_s: float = 60.0  # while only sold-but-unverified sales wait
    timeout_s: float = 5.0
    lookback_h: int = 24  # unverified sales older than this are left to the statement


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """A validated [provider] table."""

    kind: str
    rail: str
    name: str
    base_url: str
    token_url: str
    scope: str
    poll_s: float
    recheck_s: float
    timeout_s: float
    lookback_h: int
    key: str = ""  # the rail's Pix key: credits the PSP lists to another key are not this box's


@dataclass(frozen=True, slots=True)
class Credentials:
    """The files of `<state dir>/provider/`, checked: paths for TLS, the OAuth2 client."""

    cert_file: Path
    key_file: Path
    ca_file: Path | None
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(client_id={self.client_id!r}, cert_file={self.cert_file})"


class _OAuth(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    client_id: str
    client_secret: str


def parse_provider(
    raw: Mapping[str, Any] | None, rails: Mapping[str, object], path: Path | str
) -> ProviderSettings | None:
    """Validate the [provider] table (None when there is none); errors name the key."""
    if raw is None:
        return None
    try:
        table = msgspec.convert(raw, type=RawProvider)
    except msgspec.ValidationError as exc:
        raise config_field_error(path, str(exc), "provider") from None
    if table.rail not in rails:
        raise ConfigError(path, "provider.rail", f"{table.rail!r} is no [rails.*] table here")
    pix = rails[table.rail]
    if not isinstance(pix, PixRail):
        raise ConfigError(path, "provider.rail", f"{table.rail!r} is not a pix rail (apipix)")
    for key in ("base_url", "token_url"):
        if not str(getattr(table, key)).startswith("https://"):
            raise ConfigError(path, f"provider.{key}", "must be an https:// URL (mutual TLS)")
    for key, low, high in (("poll_s", 0.1, 60), ("recheck_s", 1, 3600), ("timeout_s", 0.2, 60)):
        if not low <= float(getattr(table, key)) <= high:
            raise ConfigError(path, f"provider.{key}", f"must be {low}-{high} seconds")
    if not 1 <= table.lookback_h <= 24 * 14:
        raise ConfigError(path, "provider.lookback_h", "must be 1-336 hours")
    return ProviderSettings(
        table.kind, table.rail, table.name or table.kind, table.base_url.rstrip("/"),
        table.token_url, table.scope, table.poll_s, table.recheck_s, table.timeout_s,
        table.lookback_h, pix.key,
    )  # fmt: skip


def _private(path: Path) -> None:
    """Refuse a secret another user could read (group or other bits set)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CredentialsError(path, "", "missing (see docs/configuration.md [provider])") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(path, "", f"mode {stat.S_IMODE(mode):04o}: must be 0600")


def load_credentials(state_dir: Path) -> Credentials:
    """Read and check `<state dir>/provider/`; CredentialsError names the file at fault."""
    where = state_dir / PROVIDER_DIR
    for name in PRIVATE:
        _private(where / name)
    if not (where / "client.pem").is_file():
        raise CredentialsError(where / "client.pem", "", "missing: the PSP's client certificate")
    oauth_path = where / "oauth.json"
    try:
        oauth = msgspec.json.decode(oauth_path.read_bytes(), type=_OAuth)
    except (OSError, msgspec.DecodeError) as exc:
        where_, problem = field_and_problem(str(exc))
        raise CredentialsError(oauth_path, where_, problem) from None
    if not oauth.client_id or not oauth.client_secret:
        raise CredentialsError(oauth_path, "client_id", "client_id and client_secret must be set")
    ca = where / "ca.pem"
    return Credentials(
        where / "client.pem", where / "client.key", ca if ca.is_file() else None,
        oauth.client_id, oauth.client_secret,
    )  # fmt: skip
