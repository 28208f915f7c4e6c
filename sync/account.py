"""The box's cloud account: what `stallbox enrol` stores and `stallbox sync` needs to talk to it.

`cloud.json` in the state dir holds the cloud's URL, the device id it enrolled us under, our API
token (a secret: the file is created 0600 and never printed) and the log's origin and verifier
key, which is what lets the daemon check the cloud's signed checkpoints without trusting it.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from appliance.errors import StateError, field_and_problem

ACCOUNT_NAME = "cloud.json"


class CloudAccount(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The cloud a box ships its receipts to, as enrolment left it."""

    url: str
    device: str
    api_token: str
    origin: str
    verifier_key: str


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
        return msgspec.json.decode(data, type=CloudAccount)
    except msgspec.ValidationError as exc:
        where, problem = field_and_problem(str(exc))
        raise StateError(f"{path}: {where}: {problem}") from None
    except msgspec.DecodeError as exc:
        raise StateError(f"{path}: not valid JSON ({exc})") from None


def save_account(state_dir: Path, account: CloudAccount) -> Path:
    """Write cloud.json atomically with mode 0600 (it holds the API token)."""
    path = account_path(state_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.format(msgspec.json.encode(account)) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return path
