"""This box's own delegation from the synced trust file (issue 19): taken up when the file
changes (no restart), only if the config's creator key signed it and it names this box's key;
a garbled file keeps the last good one; a configured `[passes] delegation` wins."""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.passes.cose import raw_public
from appliance.passes.settings import PassSettings
from appliance.passes.synced import SYNCED, Held, encode_bundle
from appliance.passes.trust import Signer, delegate
from appliance.services.own_delegation import OwnDelegation

ANA, BO, FORGER = (Ed25519PrivateKey.generate() for _ in range(3))
BOX, OTHER_BOX = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
NOW = int(time.time())
WINDOW = (NOW - 60, NOW + 86_400)
SETTINGS = PassSettings(
    creators={
        "creator:ana": raw_public(ANA.public_key()),
        "creator:bo": raw_public(BO.public_key()),
    }
)


def write(state: Path, bundle: dict[str, Held]) -> None:
    path = state / SYNCED
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(encode_bundle(bundle))
    stamp = time.time_ns() + 10**9  # a new mtime even within the file system's granularity
    os.utime(path, ns=(stamp, stamp))


def held(creator: str, key: Ed25519PrivateKey, box: Ed25519PrivateKey) -> Held:
    document = delegate(key, creator, box.public_key(), "box", WINDOW)
    return Held(delegations={raw_public(box.public_key()).hex(): document})


def test_a_synced_delegation_is_taken_up_only_when_it_is_good(tmp_path: Path) -> None:
    own = OwnDelegation(SETTINGS, tmp_path, BOX.public_key(), None)
    assert own.signer_for("creator:ana") is None and own.synced() is None  # no file yet

    write(tmp_path, {"creator:ana": held("creator:ana", FORGER, BOX)})  # not ana's key
    assert own.signer_for("creator:ana") is None
    write(tmp_path, {"creator:ana": held("creator:ana", ANA, OTHER_BOX)})  # another box's
    assert own.signer_for("creator:ana") is None

    write(tmp_path, {"creator:bo": held("creator:bo", BO, BOX)})
    signer = own.signer_for("creator:bo")  # the same object, no restart
    assert signer is not None and signer.issuer == "creator:bo"
    assert raw_public(signer.public) == raw_public(BOX.public_key())
    assert own.signer_for("creator:ana") is None
    found = own.synced()
    assert found is not None and found[0].issuer == "creator:bo"

    (tmp_path / SYNCED).write_bytes(b"not cbor at all")  # garbled: the last good one stays
    assert own.signer_for("creator:bo") == signer


def test_a_configured_delegation_wins(tmp_path: Path) -> None:
    configured = Signer("creator:ana", BOX.public_key(), *WINDOW)
    settings = PassSettings(creators=SETTINGS.creators, delegation="passes/box.delegation")
    own = OwnDelegation(settings, tmp_path, BOX.public_key(), configured)
    write(tmp_path, {"creator:bo": held("creator:bo", BO, BOX)})
    assert own.signer_for("creator:bo") is configured  # refused later as ana's, not bo's
    assert own.synced() is None
