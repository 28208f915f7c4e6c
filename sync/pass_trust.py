"""The daemon's pass-trust round: fetch each trusted creator's revocation list and delegations.

On each idle round that reaches the cloud (after the heartbeat), for every creator in the box's
`[passes] creators`, `GET /v1/devices/{device}/passes/trust?creator=…` with the device's token.
Nothing fetched is trusted for being fetched: appliance/passes/synced.py keeps a revocation list
only if the creator's key (from the box's own config) signed it and its iat is newer than the
one held, and a delegation only if the creator signed it; anything else is logged and the last
good document kept. What is kept is written durably (temp file, fsync, rename) to
STATE/passes/synced.cbor, which the node reads before it verifies the next pass
(appliance/services/pass_trust.py) — so a pass revoked at the cloud is refused offline after one
sync round. A failure here never holds up receipts: it is logged and tried next round.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from pathlib import Path

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.durable import make_dirs, write_atomic
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.synced import MAX_BUNDLE, SYNCED, Held, decode_bundle, encode_bundle, take
from appliance.services.cloud_account import CloudAccount

log = logging.getLogger(__name__)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_CREATORS = 64
MAX_ANSWER = 24 * 1024 * 1024


class _CloudGone(Exception):
    """The cloud could not be reached at all."""


class TrustAnswer(msgspec.Struct, frozen=True):
    """The cloud's answer for one creator (sync/cloud/passes.py)."""

    creator: str
    revocations: str | None
    delegations: list[str]


def read_bundle(path: Path) -> dict[str, Held]:
    """The bundle held at `path` (empty if there is none); PassRefused if it is not one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    if len(data) > MAX_BUNDLE:
        raise PassRefused(Reason.MALFORMED, f"{path}: over {MAX_BUNDLE} bytes")
    return decode_bundle(data)


class PassTrust:
    """Fetches, checks and keeps the trust documents of the creators this box trusts."""

    def __init__(
        self,
        state_dir: Path,
        creators: Mapping[str, bytes],
        client: httpx.AsyncClient,
        account: CloudAccount,
    ) -> None:
        self.path = state_dir / SYNCED
        self.keys = {
            c: Ed25519PublicKey.from_public_bytes(raw)
            for c, raw in list(creators.items())[:MAX_CREATORS]
        }
        self.client = client
        self.account = account
        self.rounds = 0  # rounds that reached the cloud for every creator

    async def _fetch(self, creator: str) -> TrustAnswer | None:
        """The cloud's answer for `creator`; None if it gave none; CloudGone if unreachable."""
        url = f"{self.account.url.rstrip('/')}/v1/devices/{self.account.device}/passes/trust"
        headers = {"Authorization": f"Bearer {self.account.api_token}"}
        try:
            response = await self.client.get(
                url, params={"creator": creator}, headers=headers, timeout=TIMEOUT
            )
        except httpx.TransportError as exc:
            raise _CloudGone(str(exc)) from None
        except httpx.HTTPError as exc:
            log.info("pass trust: no answer for %s (%s); next round", creator, exc)
            return None
        if response.status_code != 200 or len(response.content) > MAX_ANSWER:
            log.warning("pass trust: the cloud answered %d for %s", response.status_code, creator)
            return None
        try:
            answer = msgspec.json.decode(response.content, type=TrustAnswer)
        except msgspec.DecodeError as exc:
            log.warning("pass trust: malformed answer for %s (%s)", creator, exc)
            return None
        return answer if answer.creator == creator else None

    async def step(self) -> bool:
        """One round: fetch every creator's documents, keep the good ones; True if any changed."""
        try:
            bundle = read_bundle(self.path)
        except (PassRefused, OSError) as exc:
            log.error("pass trust: %s is unreadable (%s); starting it again", self.path, exc)
            bundle = {}
        fresh = dict(bundle)
        reached = 0
        for creator, key in self.keys.items():
            try:
                answer = await self._fetch(creator)
            except _CloudGone as exc:  # offline: ask no more creators this round
                log.info("pass trust: cannot reach the cloud (%s); next round", exc)
                break
            if answer is None:
                continue
            reached += 1
            try:
                revocations = (
                    None if answer.revocations is None else base64.b64decode(answer.revocations)
                )
                delegations = [base64.b64decode(d) for d in answer.delegations]
            except binascii.Error as exc:
                log.warning("pass trust: %s's documents are not base64 (%s)", creator, exc)
                continue
            held = bundle.get(creator, Held())
            kept, refused = take(held, creator, key, revocations, delegations)
            for why in refused:
                log.warning("pass trust: refused %s; keeping the last good one", why)
            if kept != held:
                fresh[creator] = kept
        if reached == len(self.keys):
            self.rounds += 1
        if fresh == bundle:
            return False
        try:
            make_dirs(self.path.parent, mode=0o700)
            write_atomic(self.path, encode_bundle(fresh))
        except OSError as exc:  # a full disk must not stop the receipts: the old file stays
            log.error("pass trust: cannot write %s (%s); next round", self.path, exc)
            return False
        log.info("pass trust: kept new documents for %s", ", ".join(sorted(fresh)))
        return True
