"""Who an attendee is, as far as the box can tell: a visitor id it signed, and the phone's address.

The `sbv` cookie is chosen by the client: a scalper rotates it at will, so nothing that limits or
decides may rest on it as sent. The node issues every visitor id itself with a MAC (HMAC-SHA256
under a key derived from the device key) and ignores any id whose MAC does not check. Limits on
drops rest on the client's own address, which the box sees directly on the venue LAN (it is the
edge: no proxy, so no X-Forwarded-For to trust); the address is stored only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets

from appliance.ledger.identity import DeviceKey

MAC_HEX = 16  # 64 bits of MAC: forging one id takes ~2^63 tries, each a request to the box
CLIENT_HEX = 20  # an address's keyed hash: 80 bits, so two addresses never share one
_VISITOR_LABEL = b"stallbox visitor-id v1"
CLIENTS_KEPT = 4096  # addresses whose hash is kept (a venue's LAN); then the memory starts over


class Visitors:
    """Issues and checks signed visitor ids and names clients by a keyed hash of their address."""

    def __init__(self, secret: bytes) -> None:
        self._key = secret
        self._prefix = secrets.token_hex(4)  # per process, so ids never repeat across restarts
        self._numbers = itertools.count(1)
        self._clients: dict[str, str] = {}  # address -> its hash, for a phone's next request

    @classmethod
    def for_device(cls, key: DeviceKey) -> Visitors:
        """Visitors keyed from the device key (the key never leaves the box, so neither does this)."""
        private = key.private.private_bytes_raw()
        return cls(hmac.new(private, _VISITOR_LABEL, hashlib.sha256).digest())

    def _mac(self, kind: bytes, text: str, size: int) -> str:
        return hmac.new(self._key, kind + text.encode(), hashlib.sha256).hexdigest()[:size]

    def issue(self) -> str:
        """A fresh visitor id with its MAC: `<id>.<mac>` (hex and a dot: a bare cookie value)."""
        visitor = f"{self._prefix}{next(self._numbers):x}"
        return f"{visitor}.{self._mac(b'v:', visitor, MAC_HEX)}"

    def verify(self, cookie: str | None) -> str | None:
        """The cookie if this node issued it, else None (forged, rotated, garbled or absent)."""
        if not cookie or len(cookie) > 64 or not cookie.isascii():
            return None
        visitor, dot, mac = cookie.rpartition(".")
        if not dot or not hmac.compare_digest(mac, self._mac(b"v:", visitor, MAC_HEX)):
            return None
        return cookie

    def client(self, address: str) -> str:
        """The claimant a drop counts for a client address: a keyed hash, not the address itself."""
        known = self._clients.get(address)
        if known is None:
            if len(self._clients) >= CLIENTS_KEPT:
                self._clients.clear()
            known = self._clients[address] = "a:" + self._mac(b"a:", address, CLIENT_HEX)
        return known
