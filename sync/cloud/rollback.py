"""Telling a rolled-back log from a genuine one, by a checkpoint it signed before (issue 22).

A cloud restored from a backup forgets the receipts it acknowledged after the backup; its boxes
still hold checkpoints it signed then. One such checkpoint — signed by this log's key, for the
current epoch's origin — that names a size the store no longer reaches, or another root at its
size, is proof: the log must not go on under that origin (it would sign two histories), so the
epoch is frozen and a new one begins (`Cloud.report_checkpoint`), as Certificate Transparency
freezes a broken log and starts another. Pure but for reading the store.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.checkpoint import NoteVerifier, verify_checkpoint
from sync.cloud import store as st
from sync.cloud.store import CloudStore
from sync.errors import BatchInvalid, NoteError

MAX_NOTE = 4096  # bytes of a checkpoint note; a real one is about 200


async def judge(store: CloudStore, key: Ed25519PublicKey, origin: str, note: str) -> str | None:
    """Return why `note` proves the store rolled back, or None if the log still holds it.

    BatchInvalid (400) if the note is not a checkpoint signed by this log's key; a checkpoint of
    an earlier epoch proves nothing about the current one (None).
    """
    if len(note) > MAX_NOTE:
        raise BatchInvalid(f"checkpoint: more than {MAX_NOTE} bytes", 413)
    named = note.split("\n", 1)[0]
    try:
        checkpoint = verify_checkpoint(note, NoteVerifier.from_public_key(named, key))
    except NoteError as exc:
        raise BatchInvalid(f"checkpoint: not one this log signed ({exc})") from None
    if checkpoint.origin != origin:
        return None  # an earlier epoch's (or its name is not the signer's): nothing new
    size = await store.tree_size()
    if checkpoint.size > size:
        return f"a signed checkpoint of size {checkpoint.size} is beyond the store's {size} leaves"
    if await st.root(store, checkpoint.size) != checkpoint.root_hash:
        return f"a signed checkpoint of size {checkpoint.size} has another root than the store"
    return None
