"""The box's cloud account: what `stallbox enrol` stores and `stallbox sync` needs to talk to it.

`cloud.json` in the state dir holds the cloud's URL, the device id it enrolled us under, our API
token (a secret: the file is created 0600 and never printed) and the log's origin and verifier
key, which is what lets the daemon check the cloud's signed checkpoints without trusting it.

The cloud is reached over HTTPS with certificate verification: the system's CAs, or the PEM
bundle named by `ca_file` for a private cloud. Plain `http://` is refused unless the host is
loopback (the demo's cloud, a test's), since the API token and every receipt cross that link.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from appliance.durable import write_atomic
from appliance.errors import StateError, field_and_problem

ACCOUNT_NAME = "cloud.json"


class CloudAccount(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The cloud a box ships its receipts to, as enrolment left it."""

    url: str
    device: str
    api_token: str
    origin: str
    verifier_key: str
    ca_file: str | None = None  # PEM CA bundle that signs a private cloud's certificate
    epoch: int = 1  # the log's epoch `origin` names (a later one after a rollback: sync/epoch.py)


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cloud_url_problem(url: str) -> str | None:
    """Why `url` may not be used for the cloud (None if it may): https, or http on loopback."""
    where = urlsplit(url)
    if where.scheme not in ("http", "https") or not where.hostname:
        return f"{url!r} is not an https:// URL"
    if where.scheme == "http" and not is_loopback(where.hostname):
        return (
            f"{url} is plain HTTP to another machine: the API token and every receipt would "
            "cross the network in cleartext; use https:// (with --ca-file for a private CA)"
        )
    return None


def cloud_tls(ca_file: str | None) -> ssl.SSLContext:
    """The context that verifies the cloud's certificate: system CAs, or only `ca_file`'s."""
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def account_path(state_dir: Path) -> Path:
    """Return where the account file lives in a state dir."""
    return state_dir / ACCOUNT_NAME


def load_account(state_dir: Path) -> CloudAccount:
    """Read cloud.json; StateError naming the file and field if it is missing or malformed."""
    path = account_path(state_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StateError(
            f"{path}: not enrolled with a cloud (run `stallbox enrol URL TOKEN`)"
        ) from None
    except OSError as exc:
        raise StateError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        account = msgspec.json.decode(data, type=CloudAccount)
    except msgspec.ValidationError as exc:
        where, problem = field_and_problem(str(exc))
        raise StateError(f"{path}: {where}: {problem}") from None
    except msgspec.DecodeError as exc:
        raise StateError(f"{path}: not valid JSON ({exc})") from None
    if (why := cloud_url_problem(account.url)) is not None:
        raise StateError(f"{path}: url: {why}")
    if account.ca_file is not None and not Path(account.ca_file).is_file():
        raise StateError(f"{path}: ca_file: {account.ca_file} is not a readable file")
    return account


def save_account(state_dir: Path, account: CloudAccount) -> Path:
    """Write cloud.json atomically with mode 0600 (it holds the API token)."""
    path = account_path(state_dir)
    data = msgspec.json.format(msgspec.json.encode(account)) + b"\n"
    write_atomic(path, data, mode=0o600)  # file and directory fsynced: survives a power cut
    return path
