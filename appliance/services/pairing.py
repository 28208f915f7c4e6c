"""Pairing consoles with a node: one-time codes run through a PAKE, limits, signed operator tokens.

`stallbox pair` runs beside the node on the box and writes `pairing.json` (0600) in the state dir:
a fresh 6-digit code, valid 5 minutes. SPAKE2 needs the code on both sides, so the file holds it
(never logged); the node reads it when a console starts a run (appliance/ledger/pake.py), so
pairing never needs a second database writer. Both write the file under `pairing.lock`.

Limits, so that strangers on the Wi-Fi can neither guess a code nor stop the vendor pairing:
- a run counts as a failure of its code from the moment it starts until it confirms (persisted
  before the node answers); after CODE_FAILURES the code is dead and the box says so, which
  keeps an attacker's chance at CODE_FAILURES / 10^6 per code;
- one source address (an IPv6 /64) may spend at most SOURCE_FAILURES_PER_CODE of a code's
  failures, so one address cannot burn the vendor's fresh code, and starts at most SOURCE_BURST
  runs at once, SOURCE_RATE a second after that (each run costs the node ~24 ms of CPU);
- the table of sources is bounded (MAX_SOURCES, least recently seen dropped first).

A good run buys a token signed with the node's key (12 h). `stallbox pair --revoke` bumps the
token epoch: every token issued before stops working at once. Checks are cached
(appliance/services/token_cache.py) so a request pays a dict lookup and a stat, not a verify.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import ipaddress
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from appliance.durable import write_atomic
from appliance.errors import StallboxError, StateError
from appliance.ledger.errors import PakeError
from appliance.ledger.identity import DeviceKey, fingerprint
from appliance.ledger.pake import Keys, NodeRun, node_reply
from appliance.services.token_cache import TokenCache

log = logging.getLogger(__name__)
PAIRING_FILE = "pairing.json"
LOCK_FILE = "pairing.lock"
CODE_TTL_S = 300
TOKEN_TTL_S = 12 * 3600
CODE_FAILURES = 20  # Matter's cap on failed commissioning attempts
SOURCE_FAILURES_PER_CODE = 5
SOURCE_RATE = 0.5  # runs a second per source, after the burst
SOURCE_BURST = 5
SESSION_TTL_S = 30
MAX_SESSIONS = 64
MAX_SOURCES = 4096
TOKEN_PREFIX = "SBT1"  # noqa: S105 - a format tag, not a secret
SIGNING_PREFIX = b"stallbox operator token v1\n"  # never valid as a receipt signature


class PairingError(StallboxError):
    """A pairing run or a token was refused; the message says why (safe to show a client)."""


class TooManyTries(PairingError):
    """This source must wait `retry_after` seconds before another run."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(message)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    fd = os.open(state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
    """Replace the file atomically (0600); on any failure leave the old one and no temp file."""
    path = state_dir / PAIRING_FILE
    try:
        write_atomic(path, json.dumps(data).encode(), mode=0o600)  # file and directory fsynced
    except OSError as exc:  # write_atomic leaves no temp file behind
        why = "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else exc.strerror
        raise StateError(f"{path}: cannot write ({why}); nothing was changed") from None


def _pending(data: dict[str, Any]) -> dict[str, Any] | None:
    code = data.get("code")
    return code if isinstance(code, dict) and isinstance(code.get("id"), str) else None


@dataclass(frozen=True, slots=True)
class CodeStatus:
    """What became of a pairing code: used, dead of failures, expired, or still waiting."""

    failures: int
    used: bool
    expired: bool

    @property
    def dead(self) -> bool:
        """True once the code has had CODE_FAILURES failed runs and was not used."""
        return not self.used and self.failures >= CODE_FAILURES

    def describe(self) -> str:
        """One line for `stallbox pair`."""
        if self.used:
            return "the previous code paired a console"
        if self.dead:
            return (
                f"the previous code was refused after {self.failures} failed attempts "
                "(someone may be guessing codes on this network)"
            )
        tried = f" after {self.failures} failed attempts" if self.failures else ""
        return f"the previous code {'expired' if self.expired else 'was replaced'}{tried}"


def last_code(state_dir: Path, now: float | None = None) -> CodeStatus | None:
    """The state of the most recent code, or None if there never was one."""
    now = time.time() if now is None else now
    pending = _pending(_read(state_dir))
    if pending is None:
        return None
    expired = now >= float(pending.get("expires", 0))
    return CodeStatus(int(pending.get("failures", 0)), bool(pending.get("used")), expired)


def new_code(state_dir: Path, now: float | None = None) -> str:
    """Make a fresh one-time 6-digit code, replacing any earlier one; return it."""
    now = time.time() if now is None else now
    code = f"{secrets.randbelow(10**6):06d}"
    with _locked(state_dir):
        data = _read(state_dir)
        data["code"] = {
            "id": secrets.token_hex(8), "code": code, "expires": now + CODE_TTL_S,
            "failures": 0, "used": False,
        }  # fmt: skip
        _write(state_dir, data)
    return code


def file_epoch(state_dir: Path) -> int:
    """The token epoch pairing.json states (0 when there is no file)."""
    return int(_read(state_dir)["epoch"])


def revoke_all(state_dir: Path, at_least: int = 0) -> int:
    """Invalidate every token issued so far and any pending code; return the new epoch.

    The epoch written is one past the file's, and at least `at_least` (the ledger's record of
    revocations, appliance/services/revocation.py, which a deleted file cannot take back).
    """
    with _locked(state_dir):
        data = _read(state_dir)
        data["epoch"] = max(data["epoch"] + 1, at_least)
        data.pop("code", None)
        _write(state_dir, data)
    return int(data["epoch"])


def source_key(host: str) -> str:
    """The unit limits count in: the address itself, or its /64 for IPv6 (one subscriber)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """Who a token was issued to, and until when."""

    name: str
    issued: int
    expires: int
    epoch: int
    token_id: str
    realm: str = ""  # the database's token realm when issued (services/revocation.py)


@dataclass(frozen=True, slots=True)
class Started:
    """The node's first message of a run, and the session to finish it under."""

    session: str
    node_id: str
    message: bytes


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A run that confirmed: the token it bought and the run's keys to seal the answer with."""

    token: str
    keys: Keys


@dataclass(slots=True)
class _Source:
    tokens: float
    seen: float
    code_id: str = ""
    failures: int = 0  # runs of `code_id` this source started that did not confirm


@dataclass(slots=True)
class _Session:
    run: NodeRun
    code_id: str
    source: str
    name: str
    expires: float


@dataclass
class Pairing:
    """The node's side: PAKE runs under limits, tokens issued and checked."""

    state_dir: Path
    key: DeviceKey
    node_id: str
    clock: Callable[[], float] = time.time
    floor: int = 0  # the lowest epoch tokens may carry: the ledger's record, not the file's
    realm: str = ""  # tokens of another realm (issued before the database moved) are refused
    record: Callable[[int], None] | None = None  # told of a file epoch above the floor
    _sources: OrderedDict[str, _Source] = field(default_factory=OrderedDict)
    _sessions: dict[str, _Session] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fingerprint = fingerprint(self.key.public)
        self._tokens: TokenCache[TokenClaims] = TokenCache(
            self.state_dir / PAIRING_FILE, self._read_epoch
        )

    def _read_epoch(self) -> int:
        """The file's epoch, never below the floor; a higher one is passed to `record`."""
        found = file_epoch(self.state_dir)
        if found > self.floor:
            self.floor = found
            if self.record is not None:
                self.record(found)  # `stallbox pair --revoke` wrote only the file
        return self.floor

    def epoch(self) -> int:
        """The current token epoch: tokens of any other are refused."""
        return self._tokens.epoch()

    def raise_floor(self, epoch: int) -> None:
        """The ledger now says `epoch`: earlier tokens are refused from the next check on."""
        if epoch > self.floor:
            self.floor = epoch
            self._tokens.forget_epoch()

    def _source(self, source: str, now: float) -> _Source:
        entry = self._sources.pop(source, None) or _Source(float(SOURCE_BURST), now)
        entry.tokens = min(float(SOURCE_BURST), entry.tokens + (now - entry.seen) * SOURCE_RATE)
        entry.seen = now
        self._sources[source] = entry  # most recently seen last
        while len(self._sources) > MAX_SOURCES:
            self._sources.popitem(last=False)
        return entry

    def _sweep(self, now: float) -> None:
        for session_id in [s for s, run in self._sessions.items() if run.expires <= now]:
            del self._sessions[session_id]
        while len(self._sessions) >= MAX_SESSIONS:  # oldest first; its failure stays counted
            del self._sessions[next(iter(self._sessions))]

    def _admit(self, source: str, now: float) -> tuple[str, str]:
        """Count a run of the current code as a failure from now on; return (code id, code)."""
        src = self._source(source, now)
        if src.tokens < 1.0:
            wait = int((1.0 - src.tokens) / SOURCE_RATE) + 1
            raise TooManyTries(f"too many pairing attempts from this address; wait {wait} s", wait)
        with _locked(self.state_dir):
            data = _read(self.state_dir)
            pending = _pending(data)
            if pending is None or pending.get("used") or "code" not in pending:
                raise PairingError("no pairing code is waiting: run `stallbox pair` on the box")
            if now >= float(pending["expires"]):
                raise PairingError("the pairing code expired: run `stallbox pair` for a new one")
            failures = int(pending.get("failures", 0))
            if failures >= CODE_FAILURES:
                raise PairingError(
                    f"this pairing code was refused after {failures} failed attempts: "
                    "run `stallbox pair` for a new one"
                )
            if src.code_id != pending["id"]:
                src.code_id, src.failures = pending["id"], 0
            if src.failures >= SOURCE_FAILURES_PER_CODE:
                wait = int(float(pending["expires"]) - now) + 1
                raise TooManyTries(
                    "too many failed pairing attempts from this address for this code; "
                    "run `stallbox pair` for a new one",
                    wait,
                )
            pending["failures"] = failures + 1
            _write(self.state_dir, data)  # counted before any answer: a crash cannot refund it
        src.tokens -= 1.0
        src.failures += 1
        if failures + 1 >= CODE_FAILURES:
            log.warning(
                "pairing code refused after %d failed attempts; `stallbox pair` makes a new one",
                failures + 1,
            )
        return str(pending["id"]), str(pending["code"])

    async def start(self, source: str, name: str) -> Started:
        """Begin a run for a console at `source`: limits first, then the node's SPAKE2 message."""
        now = self.clock()
        self._sweep(now)
        code_id, code = self._admit(source_key(source), now)
        run = await asyncio.to_thread(NodeRun, code, self.node_id)  # ~10 ms of pure Python
        session = secrets.token_urlsafe(16)
        self._sessions[session] = _Session(
            run, code_id, source_key(source), name, now + SESSION_TTL_S
        )
        return Started(session, self.node_id, run.message)

    async def finish(self, session_id: str, message: bytes, confirm: bytes) -> Redeemed:
        """Check the console's message and confirmation; on success use the code, issue a token."""
        session = self._sessions.pop(session_id, None)
        now = self.clock()
        if session is None or session.expires <= now:
            raise PairingError("unknown or expired pairing session: start again")
        try:
            keys = await asyncio.to_thread(session.run.finish, message, confirm, self.fingerprint)
        except PakeError:
            log.info("a pairing run from %s failed", session.source)
            raise PairingError(
                "wrong pairing code, or something between this console and the box "
                "(the key fingerprint it showed is not the box's)"
            ) from None
        with _locked(self.state_dir):
            data = _read(self.state_dir)
            pending = _pending(data)
            if pending is None or pending["id"] != session.code_id or pending.get("used"):
                raise PairingError("the pairing code was replaced or used: run `stallbox pair`")
            pending["used"] = True
            pending.pop("code", None)  # used once; the secret leaves the disk
            _write(self.state_dir, data)
        source = self._sources.get(session.source)
        if source is not None:
            source.failures = 0
        log.info("paired console %r", session.name)
        return Redeemed(self.issue(session.name, self.epoch(), now), keys)

    def seal(self, redeemed: Redeemed, payload: bytes) -> tuple[bytes, bytes]:
        """The node's confirmation and `payload` sealed under the run's key."""
        return node_reply(redeemed.keys, self.fingerprint, payload)

    def issue_local(self, name: str) -> str:
        """A token for a console proven local by the Unix socket's peer credentials (no code)."""
        log.info("paired on-box console %r over the Unix socket", name)
        return self.issue(name, self.epoch(), self.clock())

    def issue(self, name: str, epoch: int, now: float) -> str:
        """Sign a token for `name` valid TOKEN_TTL_S from `now`."""
        claims = {
            "name": name, "iat": int(now), "exp": int(now) + TOKEN_TTL_S, "epoch": epoch,
            "jti": secrets.token_hex(8), "node": self.key.key_id,
        }  # fmt: skip
        if self.realm:
            claims["realm"] = self.realm
        payload = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        signature = self.key.sign(SIGNING_PREFIX + payload.encode("ascii"))
        return f"{TOKEN_PREFIX}.{payload}.{_b64(signature)}"

    def check(self, token: str, now: float | None = None) -> TokenClaims:
        """Return the claims of a valid token; raise PairingError for a forged, expired or revoked one."""
        now = self.clock() if now is None else now
        parsed = self._tokens.get(token)
        if parsed is None:
            parsed = self._verify(token)
            self._tokens.put(token, parsed)  # signed by this node: verified once, not again
        if now >= parsed.expires:
            raise PairingError("token expired; pair again")
        if parsed.epoch != self.epoch() or parsed.realm != self.realm:
            raise PairingError("token revoked; pair again")
        return parsed

    def _verify(self, token: str) -> TokenClaims:
        try:
            prefix, payload, signature = token.split(".")
            if prefix != TOKEN_PREFIX:
                raise ValueError("prefix")
            self.key.public.verify(_unb64(signature), SIGNING_PREFIX + payload.encode("ascii"))
            claims = json.loads(_unb64(payload))
            return TokenClaims(
                str(claims["name"]), int(claims["iat"]), int(claims["exp"]), int(claims["epoch"]),
                str(claims["jti"]), str(claims.get("realm", "")),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError, InvalidSignature):
            raise PairingError("invalid token") from None
