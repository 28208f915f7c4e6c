"""The state dir's disk as the node reports it: ok, low (below storage.warn_free_mb) or full.

/api/stats, /healthz and the node's start-up warning show it; a full disk refuses sales with
507 (appliance/api/storage.py). Whether an SQLite error means "no space left" is the store's
question (appliance/store/storage.py), which this reads the free space and the no-room floor from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from appliance.store.storage import NO_ROOM_BYTES, free_bytes

StorageState = Literal["ok", "low", "full"]


@dataclass(frozen=True, slots=True)
class Storage:
    """The state dir's disk as last seen: ok, low (below the warning threshold) or full."""

    state: StorageState
    free_bytes: int


def storage(directory: Path, *, full: bool, warn_below: int) -> Storage:
    """The disk's state: full when writes fail for lack of space (or no room is left: SQLite may
    still fit a few small commits into its WAL's slack), low below `warn_below` bytes."""
    free = free_bytes(directory)
    if full or free < NO_ROOM_BYTES:
        return Storage("full", free)
    return Storage("low" if free < warn_below else "ok", free)
