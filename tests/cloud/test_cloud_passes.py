"""The cloud as a pass issuer (issue 19): admin routes, the box's trust route, the CLI's parts.

Real app over a real SQLite store and a real state dir in tmp_path; every pass, delegation and
revocation list is checked with the box's own verifier (appliance.passes.trust.TrustStore).
"""

from __future__ import annotations

import asyncio
import base64
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cloudfix import ADMIN, CloudClient, make_chain
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.passes.cose import raw_public
from appliance.passes.errors import PassRefused, Reason
from appliance.passes.model import Kind, Period
from appliance.passes.trust import TrustStore
from sync.cloud.pass_cli import entitlement_spec
from sync.cloud.pass_vault import PassVault
from sync.cloud.sqlite_store import SqliteStore

ANA = "creator:ana"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
GRANTS = [
    {"kind": "percent_off", "value": 10, "targets": ["dish"]},
    {"kind": "allowance", "value": 1, "period": "day", "targets": ["drink"]},
]


def run(tmp_path: Path, scenario: Callable[[CloudClient, PassVault], Awaitable[None]]) -> None:
    async def main() -> None:
        client = CloudClient(await SqliteStore.open(tmp_path / "cloud.db"))
        vault = PassVault(tmp_path / "state")
        client.app.state.pass_vault = vault
        try:
            await scenario(client, vault)
        finally:
            await client.close()

    asyncio.run(main())


def trust_of(vault: PassVault) -> TrustStore:
    return TrustStore({ANA: vault.key(ANA).public_key()})


def test_issue_delegate_revoke_and_the_box_fetches_them(tmp_path: Path) -> None:
    async def scenario(client: CloudClient, vault: PassVault) -> None:
        issued = await client.http.post(
            f"/api/creators/{ANA}/passes",
            json={"holder": "Fan 1", "valid_days": 30, "entitlements": GRANTS}, headers=AUTH,
        )  # fmt: skip
        assert issued.status_code == 201, issued.text
        body = issued.json()
        card = trust_of(vault).verify(body["text"], body["valid_from"] + 1)
        assert (card.pass_id, card.holder, card.issuer) == (body["pass_id"], "Fan 1", ANA)
        assert card.valid_until - card.valid_from == 30 * 86400
        assert [e.kind for e in card.entitlements] == [Kind.PERCENT_OFF, Kind.ALLOWANCE]
        assert card.entitlements[1].period is Period.DAY

        box = Ed25519PrivateKey.generate()
        delegated = await client.http.post(
            f"/api/creators/{ANA}/delegations",
            json={"public_key": raw_public(box.public_key()).hex(), "label": "stall 2"},
            headers=AUTH,
        )
        assert delegated.status_code == 201, delegated.text
        signer = trust_of(vault).add_delegation(base64.b64decode(delegated.json()["delegation"]))
        assert raw_public(signer.public) == raw_public(box.public_key())

        chain = make_chain(1)
        token = await client.enrol(chain)
        url = f"/v1/devices/{chain.device}/passes/trust"
        device = {"Authorization": f"Bearer {token}"}
        empty = (await client.http.get(url, params={"creator": ANA}, headers=device)).json()
        assert empty["revocations"] is None and len(empty["delegations"]) == 1

        for _ in range(2):  # revoking twice lists it once
            revoked = await client.http.post(
                f"/api/creators/{ANA}/revocations", json={"pass_id": card.pass_id}, headers=AUTH
            )
            assert revoked.status_code == 200 and revoked.json()["revoked"] == 1
        fetched = (await client.http.get(url, params={"creator": ANA}, headers=device)).json()
        trust = trust_of(vault)
        assert trust.add_revocations(base64.b64decode(fetched["revocations"])) == 1
        with pytest.raises(PassRefused) as refused:
            trust.verify(body["text"], body["valid_from"] + 1)
        assert refused.value.reason is Reason.REVOKED

        other = (await client.http.get(url, params={"creator": ANA})).status_code
        assert other == 401  # no device token, no documents

    run(tmp_path, scenario)
    key = tmp_path / "state" / "creators" / f"{ANA}.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("path", "body", "status", "names"),
    [
        ("passes", {"holder": "F", "valid_days": 30, "entitlements": [{"kind": "x"}]}, 422,
         "entitlements[0].kind"),
        ("passes", {"holder": "F", "valid_days": 0, "entitlements": GRANTS}, 422, "valid_days"),
        ("passes", {"holder": "F", "valid_days": 1, "entitlements": [{"kind": "percent_off",
         "value": 101}]}, 422, "entitlements[0]"),
        ("passes", {"holder": "F", "valid_days": 1, "entitlements": GRANTS, "extra": 1}, 422,
         "extra"),
        ("passes", {"holder": "F" * 20000, "valid_days": 1, "entitlements": GRANTS}, 413, "body"),
        ("delegations", {"public_key": "zz"}, 422, "public_key"),
        ("revocations", {"pass_id": "not-hex"}, 422, "pass_id"),
        ("revocations", {}, 422, "pass_id"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_naming_the_field(
    tmp_path: Path, path: str, body: dict[str, Any], status: int, names: str
) -> None:
    async def scenario(client: CloudClient, vault: PassVault) -> None:
        answer = await client.http.post(f"/api/creators/{ANA}/{path}", json=body, headers=AUTH)
        assert answer.status_code == status, answer.text
        assert names in answer.json()["error"]

    run(tmp_path, scenario)


def test_admin_token_and_creator_id_are_checked(tmp_path: Path) -> None:
    async def scenario(client: CloudClient, vault: PassVault) -> None:
        body = {"pass_id": "00" * 16}
        bad = await client.http.post(f"/api/creators/{ANA}/revocations", json=body)
        assert bad.status_code == 401
        wrong = {"Authorization": "Bearer not-the-admin-token"}
        assert (
            await client.http.post(f"/api/creators/{ANA}/revocations", json=body, headers=wrong)
        ).status_code == 401
        odd = await client.http.post("/api/creators/..x/revocations", json=body, headers=AUTH)
        assert odd.status_code == 404 and "creator" in odd.json()["error"]
        assert not (tmp_path / "state" / "creators").exists()  # nothing made for refused asks

    run(tmp_path, scenario)


def test_each_revocation_list_is_newer_than_the_last(tmp_path: Path) -> None:
    vault = PassVault(tmp_path, clock=lambda: 1_800_000_000)  # a clock that stands still
    iats = [vault.revoke(ANA, f"{i:032x}")[1] for i in range(3)]
    assert iats == [1_800_000_000, 1_800_000_001, 1_800_000_002]
    public: Ed25519PublicKey = vault.key(ANA).public_key()
    assert TrustStore({ANA: public}).add_revocations(vault.trust(ANA).revocations or b"") == 3


def test_entitlement_specs_of_the_cli() -> None:
    assert entitlement_spec("percent_off:10:dish,tee") == {
        "kind": "percent_off", "value": 10, "targets": ["dish", "tee"]
    }  # fmt: skip
    assert entitlement_spec("amount_off:500:BRL") == {
        "kind": "amount_off", "value": 500, "currency": "BRL", "targets": []
    }  # fmt: skip
    assert entitlement_spec("allowance:1:day:drink")["period"] == "day"
    for bad in ("percent_off", "percent_off:x", "allowance:1", "early_access:1:a:b"):
        with pytest.raises(ValueError, match=r"percent_off|allowance|early_access"):
            entitlement_spec(bad)
