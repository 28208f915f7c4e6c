"""The node's trust store, kept up to date with what the sync daemon fetched from the cloud.

`[passes]` and its files are the base (services/passes.py `load_trust`, checked at start). The
daemon writes the creators' newer revocation lists and delegations to STATE/passes/synced.cbor
(sync/pass_trust.py). Before each verification the node looks whether that file changed (one
stat) and, if so, verifies every document in it again against the creator keys of its own
config — a revocation list only if it is no older than the one it holds — and swaps the trust
it verifies with. A file it cannot read or a document that does not verify is logged and the
last good trust kept, so nothing the daemon or a stranger writes there can loosen the rules.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.errors import ConfigError
from appliance.passes.errors import PassRefused
from appliance.passes.model import Pass
from appliance.passes.settings import PassSettings
from appliance.passes.synced import MAX_BUNDLE, SYNCED, check_revocations, decode_bundle
from appliance.passes.trust import TrustStore
from appliance.services.passes import load_trust

log = logging.getLogger(__name__)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class SyncedTrust(TrustStore):
    """A TrustStore that takes in the daemon's synced documents when their file changes."""

    def __init__(self, settings: PassSettings, state_dir: Path, config: object) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.config = config
        self.path = state_dir / SYNCED
        self.keys = {
            c: Ed25519PublicKey.from_public_bytes(raw) for c, raw in settings.creators.items()
        }
        self.iats: dict[str, int] = {}  # the newest revocation list's iat taken, per creator
        self._held: dict[str, bytes] = {}  # and that list
        self._stamp: tuple[int, int, int] | None = None
        self._swap(load_trust(settings, state_dir, config))
        self.refresh()

    def _swap(self, fresh: TrustStore) -> None:
        vars(self).update({k: v for k, v in vars(fresh).items() if k.startswith("_")})

    def refresh(self) -> bool:
        """Take in the synced file if it changed; True if the trust changed."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        if stamp is None:
            return False
        try:
            if stamp[1] > MAX_BUNDLE:
                raise OSError(f"over {MAX_BUNDLE} bytes")
            bundle = decode_bundle(self.path.read_bytes())
        except (OSError, PassRefused) as exc:
            log.error("passes: %s cannot be used (%s); keeping the last good trust", self.path, exc)
            return False
        try:
            fresh = load_trust(self.settings, self.state_dir, self.config)
        except ConfigError as exc:  # a [passes] file gone since the start: keep what we have
            log.error("passes: %s; keeping the last good trust", exc)
            return False
        iats, held = dict(self.iats), dict(self._held)
        for creator, entry in bundle.items():
            key = self.keys.get(creator)
            if key is None:
                continue  # a creator this box's config does not trust
            if entry.revocations is not None:
                try:
                    iat = check_revocations(entry.revocations, creator, key)
                    if iat >= iats.get(creator, 0):
                        iats[creator], held[creator] = iat, entry.revocations
                    else:
                        log.warning("passes: %s's list iat %d is older; kept", creator, iat)
                except PassRefused as exc:
                    log.warning("passes: %s's synced revocation list refused: %s", creator, exc)
            for box, document in entry.delegations.items():
                try:
                    fresh.add_delegation(document)
                except PassRefused as exc:
                    log.warning("passes: %s's delegation to %s refused: %s", creator, box, exc)
        for document in held.values():
            fresh.add_revocations(document)  # verified above
        self.iats, self._held = iats, held
        self._swap(fresh)
        log.info("passes: trust refreshed from %s", self.path)
        return True

    def verify(self, text: str, now: int) -> Pass:
        """Verify as TrustStore does, with the newest synced documents."""
        self.refresh()
        return super().verify(text, now)
