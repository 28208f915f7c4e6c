"""The console's error tree: what can go wrong talking to a node, each shown as one clear line.

ConsoleError
├── NodeUnreachable   the node did not answer (down, wrong address, network gone)
├── TransportError    a request got no answer (the client reports it as NodeUnreachable)
├── KeyChanged        the TLS handshake showed another key than the pinned one: nothing sent
├── Refused           the node answered 4xx: a business rule, bad input, a bad token
│   └── Unauthorized  401: the token is missing, expired or revoked (pair again)
├── StateFileError    the console's own state file is unreadable or has loose permissions
└── FontError         a console font (PSF) or its source is unreadable or lacks a glyph
"""

from __future__ import annotations


class ConsoleError(Exception):
    """Anything the console reports to the vendor instead of a traceback."""


class NodeUnreachable(ConsoleError):
    """The node did not answer; nothing was sent or the answer was lost."""


class TransportError(ConsoleError):
    """A request got no answer: connecting, writing, reading or parsing failed (tui/keepalive.py).

    Its `__cause__` is the underlying error, so the client can tell a handshake that did not
    verify (another key) from a node that is down.
    """


class KeyChanged(ConsoleError):
    """Whoever answers at the node's address holds another key than the one pinned."""

    def __init__(self, url: str, pinned: str, shown: str) -> None:
        self.url = url
        self.pinned = pinned
        self.shown = shown
        super().__init__(
            f"THE NODE'S KEY HAS CHANGED at {url}: pinned {pinned}, the TLS handshake proved "
            f"{shown}; nothing was sent"
        )


class Refused(ConsoleError):
    """The node answered with an error body: `{"error": ..., "field": ...}`."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        self.status = status
        self.error = error
        self.field = field
        super().__init__(f"{error} ({field})" if field else error)


class Unauthorized(Refused):
    """The operator token was refused; the console must pair again."""


class StateFileError(ConsoleError):
    """The console state file cannot be used."""


class FontError(ConsoleError):
    """A console font or its source cannot be used."""
