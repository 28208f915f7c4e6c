"""Key rotation: a new device key, announced on the chain by a rekey line the old key signs.

docs/receipt-format.md defines the `rekey` line: the last line of an epoch, signed by that
epoch's key, whose items name the next epoch and the next public key. Every later receipt is
signed by the new key in the new epoch; the device id stays the key id of the first key. The
order makes a power cut harmless: the new key is durable (`device.key.next`, 0600) before the
rekey line commits, and the line, the epoch and the key id commit in one transaction; moving
the key files into place afterwards is finished by whoever opens the state dir next
(appliance/services/key_files.py). The operator TLS certificate is bound to the device key, so
it is issued again from the new key and consoles see the fingerprint change.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.durable import write_atomic
from appliance.ledger.identity import DeviceKey, fingerprint, private_pem, public_key_text
from appliance.ledger.receipt import Receipt, ReceiptType
from appliance.services.box import EPOCH, Box
from appliance.services.evidence import ledger_currency
from appliance.services.key_files import KEY_ID, NEXT_KEY, current_key, retired_name
from appliance.services.state_dir import check_state, lock_state
from appliance.store import ledger as ledger_sql
from appliance.tls import ensure_certificate


@dataclass(frozen=True, slots=True)
class Rekeyed:
    """What `stallbox rekey` did."""

    device_id: str
    epoch: int  # the new epoch
    old_key: str
    new_key: str
    fingerprint: str  # of the new key: what consoles will be shown
    rekey_seq: int  # the seq of the rekey line
    retired_file: Path


def rekey_state(state_dir: Path, at: datetime) -> Rekeyed:
    """Rotate the device key of a stopped node's state dir; StateInUse if the node runs."""
    with lock_state(state_dir, "stallbox rekey"):
        check_state(state_dir)
        box = Box.open(state_dir, ledger_currency(state_dir))
        try:
            old = box.key
            new = DeviceKey.from_private(Ed25519PrivateKey.generate())
            # durable before the rekey line names it (over any left by a rekey never committed)
            write_atomic(state_dir / NEXT_KEY, private_pem(new), mode=0o600)
            epoch = box.epoch + 1

            def announce(conn: sqlite3.Connection) -> Receipt:
                items = {"epoch": epoch, "pubkey": public_key_text(new.public)}
                line = box.append(conn, kind=ReceiptType.REKEY, at=at, total=0, items=items)
                ledger_sql.set_meta(conn, EPOCH, str(epoch))
                ledger_sql.set_meta(conn, KEY_ID, new.key_id)
                return line

            receipt = box.writer.run_sync(announce)
        finally:
            box.close()
        current_key(state_dir, new.key_id)  # keep the old key as retired, move the new one in
        ensure_certificate(state_dir, new, new.key_id)  # the name `stallbox node` gives it
    return Rekeyed(
        box.device_id, epoch, old.key_id, new.key_id, fingerprint(new.public), receipt.seq,
        state_dir / retired_name(old.key_id),
    )  # fmt: skip
