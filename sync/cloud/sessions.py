"""The creator's login to the dashboard: a form, a signed session cookie, bounded attempts.

The cookie `sbc` holds `base64url(JSON {"c": creator, "x": expiry})` and an HMAC-SHA256 of it
under a key made of the state dir's `dashboard.key` and the creator's current password hash (a
new password ends the old sessions); it is `HttpOnly`, `SameSite=Strict` (no other site's
page can make the browser send it: the logout form needs no other CSRF token), `Path=/dashboard`
and `Secure` when the cloud serves HTTPS. Failed logins are counted per creator id and per
client address: after FREE_FAILURES, each further attempt must wait twice as long as the last
(1 s, 2 s, 4 s … at most LOCK_CAP_S), answered 429 with Retry-After before any password is
hashed, so guessing costs time and the scrypt work cannot be used to load the cloud.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "sbc"
SESSION_S = 12 * 3600
FREE_FAILURES = 5
LOCK_CAP_S = 900.0
MAX_TRACKED = 10_000  # ids and addresses remembered (oldest forgotten first)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def session_key(secret: bytes, password_hash: str) -> bytes:
    """The MAC key of a creator's sessions: the cloud's secret and her current password hash,
    so setting a new password (`creator add` again) ends every session of the old one."""
    return hashlib.sha256(secret + b"\n" + password_hash.encode()).digest()


def claimed(value: str | None) -> str | None:
    """The creator a cookie value claims to be, NOT verified (to look her password hash up)."""
    if not value or value.count(".") != 1:
        return None
    try:
        claims = json.loads(_unb64(value.split(".")[0]))
    except (ValueError, TypeError):
        return None
    creator = claims.get("c") if isinstance(claims, dict) else None
    return creator if isinstance(creator, str) else None


def make_cookie(secret: bytes, creator: str, now: float) -> str:
    """A session cookie value for `creator`, good for SESSION_S (`secret`: `session_key`)."""
    body = _b64(json.dumps({"c": creator, "x": int(now) + SESSION_S}).encode())
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def creator_of(secret: bytes, value: str | None, now: float) -> str | None:
    """The creator a cookie value names if its MAC verifies and it has not expired; else None."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    good = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), good):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("c"), str):
        return None
    expiry = claims.get("x")
    if not isinstance(expiry, int) or now >= expiry:
        return None
    creator: str = claims["c"]
    return creator


def cookie_header(value: str, *, secure: bool, max_age: int = SESSION_S) -> str:
    """The Set-Cookie header of a session (an empty value and max_age 0 end it)."""
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={value}; Path=/dashboard; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}"


@dataclass
class _Failures:
    count: int = 0
    until: float = 0.0  # monotonic time before which no attempt is heard


class Attempts:
    """Failed logins per key (creator id, client address), with doubling lockouts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[str, _Failures] = OrderedDict()
        self.clock = clock

    def wait(self, *keys: str) -> float:
        """Seconds to wait before any of `keys` may try again (0: now)."""
        now = self.clock()
        return max([0.0, *(self._seen[k].until - now for k in keys if k in self._seen)])

    def failed(self, *keys: str) -> None:
        """Count a failure against each key; past FREE_FAILURES, lock it for a doubling time."""
        now = self.clock()
        for key in keys:
            entry = self._seen.pop(key, None) or _Failures()
            entry.count += 1
            if entry.count > FREE_FAILURES:
                entry.until = now + min(LOCK_CAP_S, 2.0 ** (entry.count - FREE_FAILURES - 1))
            self._seen[key] = entry
            while len(self._seen) > MAX_TRACKED:
                self._seen.popitem(last=False)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of `keys`."""
        for key in keys:
            self._seen.pop(key, None)
