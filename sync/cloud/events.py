"""One structured line per event in the cloud's log: client errors, 409s, quarantines, revokes.

The operator greps or ships these lines (journald, Loki, …), so each is one line of logfmt —
`event=NAME key=value …`, a value quoted when it holds a space, quote or `=` — and never a
traceback. Values are cut to a bounded length and control characters escaped, so a hostile
request cannot forge a second line or flood the log.
"""

from __future__ import annotations

import logging

MAX_VALUE = 300  # characters kept of one value


def _value(value: object) -> str:
    text = str(value)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + "…"
    text = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    if not text or any(c in text for c in ' "='):
        return f'"{text}"'
    return text


def logfmt(event: str, **fields: object) -> str:
    """Return `event=NAME k=v …` with every value escaped and bounded."""
    parts = [f"event={_value(event)}"]
    parts.extend(f"{key}={_value(value)}" for key, value in fields.items() if value is not None)
    return " ".join(parts)


def log_event(
    logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object
) -> None:
    """Write one logfmt line for `event` (no traceback, ever)."""
    logger.log(level, "%s", logfmt(event, **fields))
