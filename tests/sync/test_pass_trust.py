"""The box keeps only verified, newer trust documents (issue 19): daemon round and node reload.

A stand-in cloud (httpx.MockTransport) serves what a real or a lying cloud could: a newer list,
a list signed by another key under the creator's name, an older list. The daemon's round keeps
the good ones in STATE/passes/synced.cbor; the node's SyncedTrust takes them in before the next
verification and keeps its last good trust when the file is garbage.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.passes.cose import raw_public
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.model import Entitlement, Kind, Pass
from appliance.passes.settings import PassSettings
from appliance.passes.synced import SYNCED, decode_bundle, delegation_of
from appliance.passes.trust import delegate, issue_pass, revocation_id, revocation_list
from appliance.services.cloud_account import CloudAccount
from appliance.services.pass_trust import SyncedTrust
from sync.pass_trust import PassTrust

ANA = "creator:ana"
KEY = Ed25519PrivateKey.generate()
NOW = 1_800_000_000


def fan_pass(key: Ed25519PrivateKey = KEY) -> tuple[str, str]:
    card = Pass(
        secrets.token_hex(16), ANA, "Fan", NOW - 60, NOW + 86400, NOW - 60,
        (Entitlement(Kind.PERCENT_OFF, 10),), "",
    )  # fmt: skip
    return card.pass_id, issue_pass(key, card)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class StandIn:
    """A cloud whose trust answer the test sets."""

    def __init__(self) -> None:
        self.revocations: bytes | None = None
        self.delegations: list[bytes] = []
        self.asked = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer device-token"
        assert request.url.path == "/v1/devices/dev0000000/passes/trust"
        self.asked += 1
        listed = None if self.revocations is None else b64(self.revocations)
        return httpx.Response(
            200,
            json={
                "creator": request.url.params["creator"],
                "revocations": listed,
                "delegations": [b64(d) for d in self.delegations],
            },
        )


def round_trip(state: Path, cloud: StandIn) -> bool:
    account = CloudAccount("http://cloud", "dev0000000", "device-token", "o", "k")

    async def main() -> bool:
        async with httpx.AsyncClient(transport=httpx.MockTransport(cloud.handle)) as client:
            trust = PassTrust(state, {ANA: raw_public(KEY.public_key())}, client, account)
            return await trust.step()

    return asyncio.run(main())


def reason(trust: SyncedTrust, text: str) -> Reason | None:
    try:
        trust.verify(text, NOW)
    except PassRefused as exc:
        return exc.reason
    return None


def test_a_newer_list_is_taken_a_forged_or_older_one_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = PassSettings(creators={ANA: raw_public(KEY.public_key())})
    node = SyncedTrust(settings, tmp_path, "stallbox.toml")
    first, first_text = fan_pass()
    second, second_text = fan_pass()
    assert reason(node, first_text) is None

    cloud = StandIn()
    cloud.revocations = revocation_list(KEY, ANA, [revocation_id(ANA, first)], NOW)
    assert round_trip(tmp_path, cloud)
    assert reason(node, first_text) is Reason.REVOKED  # taken in with no restart
    assert reason(node, second_text) is None
    assert not round_trip(tmp_path, cloud)  # the same list again changes nothing

    forger = Ed25519PrivateKey.generate()
    both = [revocation_id(ANA, first), revocation_id(ANA, second)]
    cloud.revocations = revocation_list(forger, ANA, both, NOW + 10)
    assert not round_trip(tmp_path, cloud)
    cloud.revocations = revocation_list(KEY, ANA, [], NOW - 10)  # older: would un-revoke
    assert not round_trip(tmp_path, cloud)
    assert "is no creator's key" in caplog.text and "is not newer than" in caplog.text
    held = decode_bundle((tmp_path / SYNCED).read_bytes())[ANA]
    assert held.iat == NOW and held.revocations is not None
    assert reason(node, first_text) is Reason.REVOKED
    assert reason(node, second_text) is None

    cloud.revocations = revocation_list(KEY, ANA, both, NOW + 20)
    assert round_trip(tmp_path, cloud)
    assert reason(node, second_text) is Reason.REVOKED
    assert cloud.asked == 5


def test_synced_delegations_let_a_box_key_sign(tmp_path: Path) -> None:
    settings = PassSettings(creators={ANA: raw_public(KEY.public_key())})
    node = SyncedTrust(settings, tmp_path, "stallbox.toml")
    box = Ed25519PrivateKey.generate()
    _, text = fan_pass(box)
    assert reason(node, text) is Reason.UNDELEGATED
    cloud = StandIn()
    stranger = delegate(Ed25519PrivateKey.generate(), ANA, box.public_key(), "x", (0, 2**40))
    cloud.delegations = [stranger]
    assert not round_trip(tmp_path, cloud)  # a delegation the creator did not sign: refused
    cloud.delegations = [delegate(KEY, ANA, box.public_key(), "stall 2", (0, 2**40))]
    assert round_trip(tmp_path, cloud)
    assert reason(node, text) is None
    bundle = decode_bundle((tmp_path / SYNCED).read_bytes())
    assert delegation_of(bundle, ANA, raw_public(box.public_key()).hex()) == cloud.delegations[0]


def test_the_node_keeps_its_last_good_trust_when_the_file_is_garbage(tmp_path: Path) -> None:
    settings = PassSettings(creators={ANA: raw_public(KEY.public_key())})
    node = SyncedTrust(settings, tmp_path, "stallbox.toml")
    pass_id, text = fan_pass()
    cloud = StandIn()
    cloud.revocations = revocation_list(KEY, ANA, [revocation_id(ANA, pass_id)], NOW)
    assert round_trip(tmp_path, cloud)
    assert reason(node, text) is Reason.REVOKED
    (tmp_path / SYNCED).write_bytes(b"\xff not cbor")
    assert reason(node, text) is Reason.REVOKED
    (tmp_path / SYNCED).write_bytes(b"")  # the daemon's next round starts it again
    assert reason(node, text) is Reason.REVOKED


def test_offline_or_a_full_disk_never_stops_the_daemon(tmp_path: Path) -> None:
    asked: list[str] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["creator"])
        raise httpx.ConnectError("no route to host", request=request)

    account = CloudAccount("http://cloud", "dev0000000", "device-token", "o", "k")
    creators = {ANA: raw_public(KEY.public_key()), "creator:bo": raw_public(KEY.public_key())}

    async def offline() -> bool:
        async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
            return await PassTrust(tmp_path, creators, client, account).step()

    assert not asyncio.run(offline())
    assert asked == [ANA]  # unreachable: no other creator is asked this round

    (tmp_path / "passes").write_bytes(b"a file where the directory should be")
    cloud = StandIn()
    cloud.revocations = revocation_list(KEY, ANA, [], NOW)
    assert not round_trip(tmp_path, cloud)  # logged, not raised: receipts go on


def test_a_config_file_gone_since_the_start_keeps_the_trust(tmp_path: Path) -> None:
    pass_id, text = fan_pass()
    (tmp_path / "ana.revoked").write_bytes(
        revocation_list(KEY, ANA, [revocation_id(ANA, pass_id)], NOW)
    )
    settings = PassSettings(
        creators={ANA: raw_public(KEY.public_key())}, revocations=("ana.revoked",)
    )
    node = SyncedTrust(settings, tmp_path, "stallbox.toml")
    (tmp_path / "ana.revoked").unlink()
    cloud = StandIn()
    cloud.revocations = revocation_list(KEY, ANA, [], NOW)
    assert round_trip(tmp_path, cloud)
    assert reason(node, text) is Reason.REVOKED  # no 500: the trust it had stays
