"""`stallbox restore --from-cloud` on a box that still has a ledger: put it in step with the cloud.

Three ways a box's ledger and the cloud's copy can disagree, told apart by comparing lines:

- the box is **behind** (an older backup restored onto a new card): the cloud's later receipts
  are checked from the box's head on and appended, so the next sale is the cloud's next seq and
  no fork is ever signed;
- the cloud is **behind** (it was restored from a backup and lost receipts it had acknowledged:
  sync stops on a gap): where the cloud's head is a line of the box's own chain, acked_seq goes
  back to it and the stop is cleared, so sync sends the rest again;
- the two **differ** at some seq (a fork): nothing is changed; the message names the seq, and
  docs/operations.md ("Fork") says what to do.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from appliance.errors import StateError
from appliance.ledger.chain import ChainHead
from appliance.ledger.identity import load_key
from appliance.ledger.receipt import line_hash, parse_receipt
from appliance.services.cloud_account import load_account
from appliance.services.key_files import chain_keys
from appliance.services.ledger_files import state_public_keys
from appliance.services.state_dir import check_state, lock_state
from appliance.store import ledger as ledger_sql
from appliance.store.connection import DB_NAME, open_sync
from appliance.store.writer import Writer
from sync.restore import fetch, insert_verified, verified


@dataclass(frozen=True, slots=True)
class InStep:
    """What putting the ledger in step did: appended, rewound, or nothing."""

    action: str  # "appended", "rewound" or "in step"
    count: int  # receipts appended, or to be sent again
    local_head: int  # the box's last seq after it
    cloud_head: int


def _local(db: Path) -> dict[int, str]:
    with closing(open_sync(db, readonly=True)) as conn:
        return {row.seq: row.line for row in ledger_sql.iter_receipts(conn)}


def in_step(state_dir: Path, transport: httpx.BaseTransport | None = None) -> InStep:
    """Compare the box's ledger with the cloud's copy and mend what can be mended safely."""
    with lock_state(state_dir, "stallbox restore"):
        check_state(state_dir)
        key, account = load_key(state_dir), load_account(state_dir)
        db = state_dir / DB_NAME
        local = _local(db)
        mine = max(local)
        head, receipts = fetch(account.url, account.device, account.api_token, account.ca_file,
                               transport)  # fmt: skip
        theirs = {r.seq: r.line for r in receipts}
        for seq in range(min(mine, head.seq) + 1):
            if theirs.get(seq) != local[seq]:
                raise StateError(
                    f"fork at seq {seq}: the box and {account.url} hold different receipts "
                    f"there (box head {mine}, cloud head {head.seq}); nothing was changed — "
                    "see docs/operations.md, Fork"
                )
        now = datetime.now(UTC).isoformat()
        writer = Writer.open(db)
        try:
            if head.seq > mine:
                later = [r for r in receipts if r.seq > mine]
                keys = [key.public, *state_public_keys(state_dir)]
                keys += chain_keys((parse_receipt(r.line).kind.value, r.items) for r in later)
                start = ChainHead(mine + 1, line_hash(local[mine]))
                verified(account.url, account.device, keys, head, later, start)

                def append(conn: sqlite3.Connection) -> None:
                    insert_verified(conn, later)
                    ledger_sql.set_acked_seq(conn, head.seq, now)

                writer.run_sync(append)
                return InStep("appended", len(later), head.seq, head.seq)
            if head.seq < mine:
                writer.run_sync(lambda conn: ledger_sql.rewind_acked_seq(conn, head.seq, now))
                return InStep("rewound", mine - head.seq, mine, head.seq)
            writer.run_sync(lambda conn: ledger_sql.set_acked_seq(conn, head.seq, now))
            return InStep("in step", 0, mine, head.seq)
        finally:
            writer.close()
