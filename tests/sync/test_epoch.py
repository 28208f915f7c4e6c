"""The box trusts a new epoch of its cloud's log only as the same key under the derived name."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.ledger.wire import Epoch, LogStatus
from appliance.services.cloud_account import CloudAccount
from sync.checkpoint import parse_verifier_key, sign_checkpoint, verifier_key, verify_checkpoint
from sync.epoch import adopt

KEY = Ed25519PrivateKey.generate()
BASE = "stallbox.cloud/0123456789abcdef"


def account(origin: str = BASE, epoch: int = 1) -> CloudAccount:
    vkey = verifier_key(origin, KEY.public_key())
    return CloudAccount("http://127.0.0.1:1", "aaaaaaaaaa", "t", origin, vkey, None, epoch)


def status(origin: str, epoch: int, served_key: str = "anything") -> LogStatus:
    epochs = [Epoch(1, BASE, "", 0, ""), Epoch(epoch, origin, "2026-12-04T18:00:00Z", 5, "x")]
    return LogStatus(origin, served_key, epoch, epochs)


def test_a_newer_epoch_under_the_derived_origin_is_adopted_with_a_key_derived_here() -> None:
    moved = adopt(account(), status(f"{BASE}/e2", 2))
    assert moved is not None and (moved.origin, moved.epoch) == (f"{BASE}/e2", 2)
    # the served verifier key ("anything") is ignored: the box's own trusted key, renamed
    note = sign_checkpoint(KEY, moved.origin, moved.origin, 1, bytes(32))
    verify_checkpoint(note, parse_verifier_key(moved.verifier_key), origin=moved.origin)
    again = adopt(moved, status(f"{BASE}/e3", 3))
    assert again is not None and again.origin == f"{BASE}/e3"


def test_anything_else_is_refused() -> None:
    assert adopt(account(), status(BASE, 1)) is None  # not newer
    assert adopt(account(f"{BASE}/e3", 3), status(f"{BASE}/e2", 2)) is None  # older
    assert adopt(account(), status("stallbox.cloud/stranger/e2", 2)) is None  # another log
    assert adopt(account(), status(f"{BASE}/e3", 2)) is None  # a name that is not epoch 2's
    assert adopt(account(), status(f"{BASE}/x/e2", 2)) is None
