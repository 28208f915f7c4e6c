"""Pairing consoles with a node: one-time codes and signed operator tokens.

`stallbox pair` runs beside the node on the box and writes `pairing.json` in the state dir (a
hash of a fresh 6-digit code, valid 5 minutes); the node reads it when a console offers the code,
so pairing never needs a second database writer. A good code is used once and buys a token signed
with the node's key (12 h). `stallbox pair --revoke` bumps the token epoch: every token issued
before stops working at once. Wrong codes are limited: 5 tries, then a wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from appliance.durable import write_atomic
from appliance.errors import StallboxError, StateError
from appliance.ledger.identity import DeviceKey

PAIRING_FILE = "pairing.json"
CODE_TTL_S = 300
TOKEN_TTL_S = 12 * 3600
MAX_TRIES = 5
LOCKOUT_S = 60
TOKEN_PREFIX = "SBT1"  # noqa: S105 - a format tag, not a secret
SIGNING_PREFIX = b"stallbox operator token v1\n"  # never valid as a receipt signature


class PairingError(StallboxError):
    """A pairing code or token was refused; the message says why (safe to show a client)."""


class TooManyTries(PairingError):
    """Too many wrong codes; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many wrong codes; wait {retry_after} s")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _code_hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _read(state_dir: Path) -> dict[str, Any]:
    path = state_dir / PAIRING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"epoch": 0}
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: unreadable ({exc}); delete it and pair again") from None
    if not isinstance(data, dict) or not isinstance(data.get("epoch"), int):
        raise StateError(f"{path}: epoch: missing or not an integer; delete it and pair again")
    return data


def _write(state_dir: Path, data: dict[str, Any]) -> None:
    path = state_dir / PAIRING_FILE
    write_atomic(path, json.dumps(data).encode(), mode=0o600)  # file and directory fsynced


def new_code(state_dir: Path, now: float | None = None) -> str:
    """Make a fresh one-time 6-digit code, replacing any earlier one; return it."""
    now = time.time() if now is None else now
    data = _read(state_dir)
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    data["code"] = {"salt": salt, "hash": _code_hash(salt, code), "expires": now + CODE_TTL_S}
    _write(state_dir, data)
    return code


def revoke_all(state_dir: Path) -> int:
    """Invalidate every token issued so far and any pending code; return the new epoch."""
    data = _read(state_dir)
    data["epoch"] += 1
    data.pop("code", None)
    _write(state_dir, data)
    return int(data["epoch"])


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """Who a token was issued to, and until when."""

    name: str
    issued: int
    expires: int
    epoch: int
    token_id: str


class Pairing:
    """The node's side: redeems codes (rate-limited) and issues and checks tokens."""

    def __init__(self, state_dir: Path, key: DeviceKey) -> None:
        self.state_dir = state_dir
        self.key = key
        self._failures: list[float] = []
        self._locked_until = 0.0

    def redeem(self, code: str, name: str, now: float | None = None) -> str:
        """Exchange a valid one-time code for a token; raise PairingError otherwise."""
        now = time.time() if now is None else now
        if now < self._locked_until:
            raise TooManyTries(int(self._locked_until - now) + 1)
        data = _read(self.state_dir)
        pending = data.get("code")
        good = (
            isinstance(pending, dict)
            and now < float(pending.get("expires", 0))
            and hmac.compare_digest(
                _code_hash(str(pending.get("salt")), code), str(pending.get("hash"))
            )
        )
        if not good:
            self._failures = [t for t in self._failures if now - t < LOCKOUT_S] + [now]
            if len(self._failures) >= MAX_TRIES:
                self._locked_until = now + LOCKOUT_S
                self._failures.clear()
            raise PairingError("wrong or expired pairing code (run `stallbox pair` on the box)")
        data.pop("code")
        _write(self.state_dir, data)  # used once
        self._failures.clear()
        return self.issue(name, int(data["epoch"]), now)

    def issue(self, name: str, epoch: int, now: float) -> str:
        """Sign a token for `name` valid TOKEN_TTL_S from `now`."""
        claims = {
            "name": name, "iat": int(now), "exp": int(now) + TOKEN_TTL_S, "epoch": epoch,
            "jti": secrets.token_hex(8), "node": self.key.key_id,
        }  # fmt: skip
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        signature = self.key.sign(SIGNING_PREFIX + payload.encode("ascii"))
        return f"{TOKEN_PREFIX}.{payload}.{_b64(signature)}"

    def check(self, token: str, now: float | None = None) -> TokenClaims:
        """Return the claims of a valid token; raise PairingError for a forged, expired or revoked one."""
        now = time.time() if now is None else now
        try:
            prefix, payload, signature = token.split(".")
            if prefix != TOKEN_PREFIX:
                raise ValueError("prefix")
            self.key.public.verify(_unb64(signature), SIGNING_PREFIX + payload.encode("ascii"))
            claims = json.loads(_unb64(payload))
            parsed = TokenClaims(
                str(claims["name"]), int(claims["iat"]), int(claims["exp"]), int(claims["epoch"]),
                str(claims["jti"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, InvalidSignature):
            raise PairingError("invalid token") from None
        if now >= parsed.expires:
            raise PairingError("token expired; pair again")
        if parsed.epoch != _read(self.state_dir)["epoch"]:
            raise PairingError("token revoked; pair again")
        return parsed
