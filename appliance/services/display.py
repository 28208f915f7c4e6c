"""Customer displays: pairing one with a console by a code, display-only tokens, live views.

A spare phone facing the payer opens the attendee plane's /display page (plain HTTP: it
cannot trust the box's own TLS certificate) and types a 6-digit code the console shows. The
node answers with a display-only token in a cookie. That token reads one thing: what its
console's customer display shows now (the cart, the payment code, "paid"); it is no operator
token, so the operator API answers it 401. Tokens are stored hashed (SHA-256 of 32 random
bytes) in the database, so a display survives the node restarting; pairing a display again for
the same console replaces the old one (the way to revoke a lost phone).

Codes live in memory, one per console, for CODE_TTL_S. Every wrong code counts against every
code waiting; after CODE_FAILURES wrong tries they are all dead and the console must show a new
one, which keeps a guesser's chance per code at CODE_FAILURES / 10^6 (as operator pairing).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from appliance.services.pairing import PairingError
from appliance.store import display as display_sql
from appliance.store.writer import Writer

CODE_TTL_S = 300
CODE_FAILURES = 20
TOKEN_PREFIX = "SBD1."  # noqa: S105 - a format tag, not a secret
QUEUE_SIZE = 16
MAX_CONSOLES = 64  # views and waiting codes kept: a stall has a handful of consoles
MAX_ORDERS = 256  # orders linked to a console's display
HEARTBEAT_S = 15.0
IDLE: dict[str, Any] = {"phase": "idle"}


def token_hash(token: str) -> str:
    """What the database keeps of a display token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class _Code:
    code: str
    expires: float


@dataclass
class DisplayPairing:
    """Codes waiting, and the display tokens issued (hashes, loaded from the database)."""

    writer: Writer
    _codes: dict[str, _Code] = field(default_factory=dict)  # console -> its waiting code
    _tokens: dict[str, str] = field(default_factory=dict)  # token hash -> console
    failures: int = 0  # wrong codes since the last code was made

    async def load(self) -> None:
        """Read the paired displays from the database (at start)."""
        self._tokens = await self.writer.read(display_sql.load_tokens)

    def new_code(self, console: str, now: float) -> str:
        """A fresh code for `console`'s display, replacing its earlier one."""
        code = f"{secrets.randbelow(10**6):06d}"
        self._codes.pop(console, None)
        self._codes[console] = _Code(code, now + CODE_TTL_S)
        while len(self._codes) > MAX_CONSOLES:  # the oldest code goes first
            del self._codes[next(iter(self._codes))]
        self.failures = 0
        return code

    async def redeem(self, code: str, now: float) -> tuple[str, str]:
        """Exchange a code for (console, token); PairingError if it is wrong, used or dead."""
        if self.failures >= CODE_FAILURES:
            raise PairingError("too many wrong codes: show a new one on the console")
        console = next(
            (
                name
                for name, waiting in self._codes.items()
                if waiting.expires > now and hmac.compare_digest(waiting.code, code)
            ),
            None,
        )
        if console is None:
            self.failures += 1
            raise PairingError("wrong or expired display code: check the console's screen")
        del self._codes[console]
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        hashed = token_hash(token)
        stamp = datetime.fromtimestamp(now, UTC).isoformat()
        await self.writer.run(lambda conn: display_sql.replace_token(conn, console, hashed, stamp))
        self._tokens = {h: c for h, c in self._tokens.items() if c != console}
        self._tokens[hashed] = console
        return console, token

    def check(self, token: str) -> str:
        """The console a display token follows; PairingError if it is none of ours."""
        console = self._tokens.get(token_hash(token)) if token.startswith(TOKEN_PREFIX) else None
        if console is None:
            raise PairingError("not a paired display: pair it again with a code from the console")
        return console

    def paired(self, console: str) -> bool:
        """Whether `console` has a display paired."""
        return console in self._tokens.values()


class DisplayOrders:
    """Which console's display an opened order belongs to (the most recent MAX_ORDERS)."""

    def __init__(self) -> None:
        self._consoles: OrderedDict[str, str] = OrderedDict()

    def link(self, order_id: str, console: str) -> None:
        """Remember that `console` opened `order_id`."""
        self._consoles.pop(order_id, None)
        self._consoles[order_id] = console
        while len(self._consoles) > MAX_ORDERS:
            self._consoles.popitem(last=False)

    def console_of(self, order_id: str) -> str | None:
        """The console whose display shows `order_id`, if one said so."""
        return self._consoles.get(order_id)


class DisplayHub:
    """Each console's current view, and the displays following it (bounded queues)."""

    def __init__(self) -> None:
        self._views: dict[str, bytes] = {}
        self._followers: dict[str, set[asyncio.Queue[bytes]]] = {}

    def show(self, console: str, view: dict[str, Any]) -> int:
        """Make `view` what `console`'s display shows; return how many displays follow it."""
        data = msgspec.json.encode(view)
        self._views.pop(console, None)
        self._views[console] = data  # most recent last
        while len(self._views) > MAX_CONSOLES:  # forget the view shown longest ago
            del self._views[next(iter(self._views))]
        followers = self._followers.get(console, set())
        for queue in followers:
            if queue.full():  # a display too slow for its own console: it needs the last view only
                queue.get_nowait()
            queue.put_nowait(data)
        return len(followers)

    @property
    def active(self) -> bool:
        """Whether any display follows any console now."""
        return any(self._followers.values())

    def following(self, console: str) -> int:
        """How many displays follow `console` now."""
        return len(self._followers.get(console, ()))

    async def stream(self, console: str, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[str]:
        """SSE text for one display: the view now, then each new one, heartbeats between."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._followers.setdefault(console, set()).add(queue)
        try:
            yield "retry: 1000\n\n"
            current = self._views.get(console, msgspec.json.encode(IDLE))
            yield f"event: view\ndata: {current.decode()}\n\n"
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), heartbeat_s)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: view\ndata: {data.decode()}\n\n"
        finally:
            self._followers.get(console, set()).discard(queue)
