"""Bundles the sync daemon fetched from the cloud, offered to the node's flags as they arrive.

The daemon (sync/flag_bundles.py) writes the signed bundle it got for this box's event to
`<state dir>/flags-inbox.json`, atomically, only when it changed. The node looks at the file
every INBOX_POLL_S and offers a new one to `EdgeFlags.offer`, which verifies it against the
box's own `[flags]` keys and scope before use: a tampered, expired, foreign or older bundle is
refused (logged, and published to the consoles) and the last good one stays in force. The daemon
never decides what the box trusts; it only carries bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.flags.errors import BundleRefused
from appliance.services.flags import EdgeFlags

log = logging.getLogger(__name__)
INBOX = "flags-inbox.json"
INBOX_POLL_S = 1.0

Stamp = tuple[int, int, int]


def _stamp(path: Path) -> Stamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


async def take_inbox(
    flags: EdgeFlags, path: Path, publish: Callable[[str, dict[str, Any]], None] | None = None
) -> str:
    """Offer the inbox's bundle once: 'taken', 'same' (already in force) or 'refused: why'."""
    try:
        wire = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        return f"refused: cannot read {path} ({exc.strerror})"
    before = flags.bundle_id
    try:
        await flags.offer(wire)
    except BundleRefused as exc:
        log.warning("the bundle from the cloud is refused, the last good one stays: %s", exc)
        if publish is not None:
            publish("flags", {"refused": str(exc)})
        return f"refused: {exc}"
    if flags.bundle_id == before:
        return "same"
    log.info("flags: bundle %s from the cloud is in force", flags.bundle_id[:12])
    if publish is not None:
        publish("flags", {"bundle": flags.bundle_id})
    return "taken"


async def follow_inbox(
    flags: EdgeFlags,
    state_dir: Path,
    publish: Callable[[str, dict[str, Any]], None] | None = None,
    every_s: float = INBOX_POLL_S,
) -> None:
    """Offer each new inbox file to `flags` until cancelled (a stat a second when idle)."""
    path, seen = state_dir / INBOX, None
    while True:
        stamp = await asyncio.to_thread(_stamp, path)
        if stamp is not None and stamp != seen:
            seen = stamp
            await take_inbox(flags, path, publish)
        await asyncio.sleep(every_s)
