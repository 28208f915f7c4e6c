"""Checks on the bytes a power cut left, made in the test's own process (no CLI start-up).

`stallbox ledger verify` is `verify_state` behind a parser: calling it here checks the same
bytes with the same code for a tenth of the time (a CLI process costs ~1 s of imports on the
test VM). The test process holds no state of the box between power-ons: every check opens the
surviving files afresh, as a fresh process would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.errors import StallboxError
from appliance.ledger.errors import LedgerError
from appliance.services.ledger_files import verify_state


def ledger_problem(state: Path) -> str | None:
    """What `stallbox ledger verify --state STATE` would print on failure, or None if it holds."""
    try:
        verify_state(state)
    except (LedgerError, StallboxError, sqlite3.Error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
