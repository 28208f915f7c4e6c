"""Which key file signs now, and the public keys of every epoch of a chain.

After `stallbox rekey` the device id stays the key id of the first key, but the key that signs
is the one of the newest epoch: the database's meta row `key_id` names it (absent: the device
id, epoch 0). The rekey writes the new key as `device.key.next` before the rekey line commits,
then keeps the old key as `device.key.<key id>.retired` and moves the new one into place. A
power cut between the commit and the move leaves the database naming a key `device.key` is not;
`current_key` finishes the move, so no state dir is ever left signing with a retired key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.durable import fsync_dir
from appliance.ledger.errors import KeyFileError
from appliance.ledger.identity import KEY_FILE, DeviceKey, load_key, parse_public_key

KEY_ID = "key_id"  # meta: the key id of the current epoch (absent before the first rekey)
NEXT_KEY = KEY_FILE + ".next"  # the new key of a rekey in progress


def retired_name(key_id: str) -> str:
    """The file name an old key is kept under after a rekey."""
    return f"{KEY_FILE}.{key_id}.retired"


def current_key(state_dir: Path, want: str) -> DeviceKey:
    """Load the key whose id is `want` as `device.key`, finishing a rekey cut short.

    KeyFileError if `device.key` is another key and no `device.key.next` with that id is there.
    """
    key = load_key(state_dir)
    if key.key_id == want:
        (state_dir / NEXT_KEY).unlink(missing_ok=True)  # a rekey that never committed
        return key
    if not (state_dir / NEXT_KEY).exists():
        raise KeyFileError(
            f"{state_dir / KEY_FILE}: holds key {key.key_id}, but the ledger is signed by key "
            f"{want} now"
        )
    new = load_key(state_dir, NEXT_KEY)
    if new.key_id != want:
        raise KeyFileError(
            f"{state_dir / NEXT_KEY}: holds key {new.key_id}, but the ledger names key {want}"
        )
    retired = state_dir / retired_name(key.key_id)
    if not retired.exists():
        os.link(state_dir / KEY_FILE, retired)
    os.replace(state_dir / NEXT_KEY, state_dir / KEY_FILE)
    fsync_dir(state_dir)
    return new


def chain_keys(rows: Iterable[tuple[str, str]]) -> list[Ed25519PublicKey]:
    """The public keys a chain names, oldest first: its start's and each rekey's.

    `rows` are (kind, items JSON) of the receipts; the chain rules then check that the start's
    key is the device's and that each epoch is signed by the key its rekey named.
    """
    keys: list[Ed25519PublicKey] = []
    for kind, items in rows:
        if kind not in ("start", "rekey"):
            continue
        try:
            keys.append(parse_public_key(str(json.loads(items)["pubkey"])))
        except (ValueError, KeyError, TypeError, KeyFileError):
            continue  # the chain check names this line (rule 13)
    return keys
