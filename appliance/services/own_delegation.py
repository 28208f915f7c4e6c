"""This box's own delegation: the one `[passes] delegation` names, else the one synced for its key.

A creator whose cloud keeps her key grants a box its delegation there (`POST
/api/creators/{creator}/delegations` with the box's public key); the sync daemon brings it into
STATE/passes/synced.cbor (sync/pass_trust.py). Selling a pass (services/pass_sales.py) and
sharing redemptions (services/pass_peers.py) need the delegation to this box's own key: when the
config names none, they take it from that file, looked at (one stat) each time they ask, so a
delegation synced while the node runs is used without a restart. Every document in the file is
verified again against the creator keys of the config and must name this box's key; a file that
cannot be read or a document that does not verify is logged and the last good one kept.
A configured delegation always wins: the synced ones are then never read.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.passes.cose import raw_public
from appliance.passes.errors import PassRefused
from appliance.passes.settings import PassSettings
from appliance.passes.synced import MAX_BUNDLE, SYNCED, decode_bundle, delegation_of
from appliance.passes.trust import Signer, TrustStore

log = logging.getLogger(__name__)
Own = tuple[Signer, bytes]  # a verified delegation to this box's key, and its document


class OwnDelegation:
    """The delegations to this box's key, by creator: the configured one or the synced ones."""

    def __init__(
        self,
        settings: PassSettings,
        state_dir: Path,
        box_public: Ed25519PublicKey,
        configured: Signer | None,
    ) -> None:
        self.creators = {
            c: Ed25519PublicKey.from_public_bytes(raw) for c, raw in settings.creators.items()
        }
        self.path = state_dir / SYNCED
        self.box = raw_public(box_public)
        self.configured = configured
        self.watch = not settings.delegation  # the config names one: the synced are not read
        self._stamp: tuple[int, int, int] | None = None
        self._held: dict[str, Own] = {}  # creator -> the synced delegation to this box

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp == self._stamp or stamp is None:
            self._stamp = stamp
            return
        self._stamp = stamp
        try:
            if stamp[1] > MAX_BUNDLE:
                raise OSError(f"over {MAX_BUNDLE} bytes")
            bundle = decode_bundle(self.path.read_bytes())
        except (OSError, PassRefused) as exc:
            log.error("passes: %s cannot be used (%s); keeping the last delegation", self.path, exc)
            return
        held = dict(self._held)
        for creator, key in self.creators.items():
            document = delegation_of(bundle, creator, self.box.hex())
            if document is None or (creator in held and held[creator][1] == document):
                continue
            try:
                signer = TrustStore({creator: key}).add_delegation(document)
            except PassRefused as exc:
                log.warning("passes: %s's synced delegation to this box refused: %s", creator, exc)
                continue
            if signer.issuer == creator and raw_public(signer.public) == self.box:
                held[creator] = (signer, document)
                log.info("passes: %s's delegation to this box taken from %s", creator, self.path)
        self._held = held

    def signer_for(self, creator: str) -> Signer | None:
        """The delegation this box issues `creator`'s passes under (None: it cannot)."""
        if not self.watch:
            return self.configured
        self._refresh()
        own = self._held.get(creator)
        return None if own is None else own[0]

    def synced(self) -> Own | None:
        """The first synced delegation to this box (creators in config order), or None."""
        if not self.watch:
            return None
        self._refresh()
        return next((self._held[c] for c in self.creators if c in self._held), None)
