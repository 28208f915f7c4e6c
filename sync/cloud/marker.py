"""The cloud's own memory of the newest checkpoint it signed, kept beside the store (issue 22).

A store restored from a backup carries its past with it; `STATE/log.head` is not in the store,
so at start the cloud shows itself that checkpoint (`Cloud.report_checkpoint`) and, if the
store no longer holds it, freezes the epoch and begins the next before it signs anything: a
rollback is caught even before a box reports it. The file is rewritten (atomically, fsynced) at
most once a second while the log grows, and at shutdown, so it may lag the store by a second —
what it missed, the boxes' own checkpoints catch. Restoring the whole state dir with the store
restores this file too: then only the boxes can tell, and they do.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from appliance.durable import write_atomic
from sync.cloud.service import Cloud
from sync.errors import CloudError

MARKER = "log.head"
EVERY_S = 1.0
log = logging.getLogger(__name__)


async def check(cloud: Cloud, state: Path) -> None:
    """At start: show the log the checkpoint it last wrote down (a new epoch if it lost it)."""
    path = state / MARKER
    try:
        note = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as exc:
        log.warning(
            "%s: cannot read (%s); the boxes' checkpoints still catch a rollback", path, exc
        )
        return
    try:
        await cloud.report_checkpoint(note)
    except CloudError as exc:
        log.warning("%s: %s; the boxes' checkpoints still catch a rollback", path, exc)


def write(cloud: Cloud, state: Path, written: str | None) -> str | None:
    """Write the newest checkpoint signed if it is not the one written; return what is on disk."""
    note = cloud.latest_note
    if note is None or note == written:
        return written
    write_atomic(state / MARKER, note.encode("utf-8"))
    return note


async def keep(cloud: Cloud, state: Path) -> None:
    """Rewrite the marker at most every EVERY_S while the log grows; cancel to stop."""
    written = None
    while True:
        await asyncio.sleep(EVERY_S)
        try:
            written = await asyncio.to_thread(write, cloud, state, written)
        except OSError as exc:
            log.warning("%s: cannot write (%s)", state / MARKER, exc)
