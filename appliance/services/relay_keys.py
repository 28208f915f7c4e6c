"""The keys a relaying box checks a neighbour's batch against, asked of its own cloud.

The relay endpoint is on the LAN without auth (boxes of one market are not paired), so anyone
on the Wi-Fi can POST a batch naming any origin. Storing it unchecked let a stranger fill the
relay with junk under made-up device ids, or push a real neighbour's batches out with lines
nobody signed (docs/security.md, "Neighbours"). So before storing, the relay checks every line
against the key the *cloud it is enrolled with* trusts for the origin (`GET /v1/devices/{id}/key`,
public): an origin the cloud does not know is refused, and only the origin's own signed lines
are ever stored. Keys are kept a while (and unknown origins a shorter while), bounded in count,
so a flood of made-up ids costs the cloud at most one question per id per minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import StateError
from appliance.ledger.errors import LedgerError
from appliance.ledger.identity import key_id, parse_public_key
from appliance.ledger.receipt import Receipt, digest_items, line_hash, verify_receipt
from appliance.ledger.wire import DeviceKeyOut
from appliance.services.cloud_account import cloud_tls, load_account

KEY_TTL_S = 600.0  # a known origin's key is asked again after this (a rekey shows by then)
MISS_TTL_S = 60.0  # an origin the cloud does not know is not asked about again for this long
MAX_KEYS = 1024  # origins remembered, the least recently used forgotten first
FETCH_TIMEOUT = httpx.Timeout(5.0)


class KeyUnavailable(Exception):
    """The cloud could not be asked (no account, unreachable, 5xx): try again later."""


class LineRefused(Exception):
    """A relayed line is not the origin's signed receipt: `index` is its place in the batch."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


Fetch = Callable[[str], Awaitable[Ed25519PublicKey | None]]  # origin -> key, None if unknown


def cloud_fetch(state_dir: Path) -> Fetch:
    """Ask the cloud in `state_dir`'s cloud.json for an origin's key (read anew per question)."""

    async def fetch(origin: str) -> Ed25519PublicKey | None:
        try:
            account = load_account(state_dir)
        except StateError:
            raise KeyUnavailable("this box is not enrolled with a cloud") from None
        url = f"{account.url.rstrip('/')}/v1/devices/{origin}/key"
        try:
            async with httpx.AsyncClient(verify=cloud_tls(account.ca_file)) as client:
                answer = await client.get(url, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as exc:
            raise KeyUnavailable(f"cannot ask the cloud for keys: {type(exc).__name__}") from None
        return read_key(answer.status_code, answer.content)

    return fetch


def read_key(status: int, content: bytes) -> Ed25519PublicKey | None:
    """The key in the cloud's answer to GET /v1/devices/{id}/key; None for 404."""
    if status == 404:
        return None
    if status != 200:
        raise KeyUnavailable(f"the cloud answered {status} to a key question")
    try:
        return parse_public_key(msgspec.json.decode(content, type=DeviceKeyOut).public_key)
    except (msgspec.DecodeError, StateError) as exc:
        raise KeyUnavailable(f"the cloud's key answer is unreadable: {exc}") from None


class OriginKeys:
    """The cloud's key per origin, remembered for a while (in memory, bounded)."""

    def __init__(self, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch = fetch
        self.clock = clock
        self._keys: OrderedDict[str, tuple[Ed25519PublicKey | None, float]] = OrderedDict()

    async def key(self, origin: str, *, fresh: bool = False) -> Ed25519PublicKey | None:
        """The key the cloud trusts for `origin` (None if it knows no such device).

        `fresh` asks again unless the cloud was asked in the last MISS_TTL_S (so lines under a
        made-up key id cannot make every request a question to the cloud).
        """
        now = self.clock()
        held = self._keys.get(origin)
        if held is not None:
            found, at = held
            ttl = MISS_TTL_S if fresh or found is None else KEY_TTL_S
            if now - at < ttl:
                self._keys.move_to_end(origin)
                return found
        found = await self.fetch(origin)
        self._keys[origin] = (found, now)
        self._keys.move_to_end(origin)
        while len(self._keys) > MAX_KEYS:
            self._keys.popitem(last=False)
        return found

    async def check(self, origin: str, prev: bytes, lines: list[tuple[Receipt, str]]) -> bool:
        """Check a batch's parsed lines and items against `origin`'s key; False if unknown.

        Each line must be signed with the key the cloud trusts now, its items must hash to the
        line's, and each must link to the one before (the first to the batch's `prev`).
        LineRefused names the first that fails. A line under another key id asks the cloud once
        more (the origin may have rekeyed since it was last asked).
        """
        public = await self.key(origin)
        if public is None:
            return False
        if any(r.key_id != key_id(public) for r, _ in lines):
            public = await self.key(origin, fresh=True)
            if public is None:
                return False
        # Up to 500 signatures (about 50 ms on a Pi-class core): off the node's loop.
        await asyncio.to_thread(_verify_lines, public, prev, lines)
        return True


def _verify_lines(public: Ed25519PublicKey, prev: bytes, lines: list[tuple[Receipt, str]]) -> None:
    """LineRefused naming the first line not signed by `public`, unlinked, or with other items."""
    want = key_id(public)
    for i, (receipt, items) in enumerate(lines):
        if receipt.key_id != want:
            raise LineRefused(i, f"signed with key {receipt.key_id}, the cloud trusts {want}")
        if receipt.prev_hash != prev:
            raise LineRefused(i, "prev: does not link to the receipt before it")
        if digest_items(items.encode("utf-8")) != receipt.items_hash:
            raise LineRefused(i, "items: do not hash to the line's items")
        try:
            verify_receipt(receipt, public)
        except LedgerError as exc:
            raise LineRefused(i, str(exc)) from None
        prev = line_hash(receipt.line)
