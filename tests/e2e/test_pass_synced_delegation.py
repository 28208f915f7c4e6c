"""A delegation granted at the cloud reaches the box by sync and lets it sell passes (issue 19).

Real cloud, node and `stallbox sync --once`: the box's config names creator:ana's key and a pass
product but no `[passes] delegation`. The cloud grants ana's delegation to the box's key
(`POST /api/creators/{creator}/delegations`). Before the sync round the pass product is refused
409 naming `sku` and the box shares no redemptions; after it — no restart — the product sells, the
issued pass verifies under ana's key and that delegation, and the box shares redemptions.
"""

from __future__ import annotations

import base64
import html
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nodeproc import run_cli, start_node
from syncproc import Proc, enrol, start_cloud

from appliance.cli import main
from appliance.ledger.identity import load_key
from appliance.passes.cose import raw_public
from appliance.passes.trust import TrustStore

CREATOR = "creator:ana"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Proc]:
    running = start_cloud(tmp_path / "cloud")
    try:
        yield running
    finally:
        running.stop()


def _order(client: httpx.Client) -> httpx.Response:
    return client.post("/api/orders", json={"lines": [{"sku": "fanpass", "qty": 1}]})


def _sharing(client: httpx.Client) -> bool:
    answer = client.get("/api/passes/peers")
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["sharing"])


def test_a_delegation_synced_from_the_cloud_lets_the_box_sell_passes(
    tmp_path: Path, cloud: Proc, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cloud.state is not None
    assert main(["cloud", "creator-key", CREATOR, "--state", str(cloud.state)]) == 0
    public = capsys.readouterr().out.strip()
    box = tmp_path / "box"
    assert run_cli("init", "--state", str(box), "--currency", "BRL").returncode == 0
    config = box / "stallbox.toml"
    config.write_text(
        config.read_text()
        + '\n[[catalog]]\nsku = "fanpass"\nname = "Fan pass"\nprice = "30.00"\n'
        + f'\n[passes]\ncreators = {{ "{CREATOR}" = "{public}" }}\nevent = "fair"\nboxes = 2\n'
        + f'\n[[passes.products]]\nsku = "fanpass"\ncreator = "{CREATOR}"\ndays = 30\n'
        + 'entitlements = [{ kind = "percent_off", value = 10 }]\n'
    )
    enrol(box, cloud.state, cloud.url)
    admin = (cloud.state / "admin.token").read_text().strip()
    granted = httpx.post(
        f"{cloud.url}/api/creators/{CREATOR}/delegations",
        json={"public_key": raw_public(load_key(box).public).hex(), "label": "stall 1"},
        headers={"Authorization": f"Bearer {admin}"}, timeout=10,
    )  # fmt: skip
    assert granted.status_code == 201, granted.text
    node = start_node(box)
    try:
        with node.client(node.pair()) as client:
            refused = _order(client)
            assert refused.status_code == 409, refused.text
            assert refused.json()["field"] == "sku" and "no delegation" in refused.json()["error"]
            assert not _sharing(client)

            shipped = run_cli("sync", "--once", "--state", str(box))
            assert shipped.returncode == 0, shipped.stdout + shipped.stderr

            made = _order(client)  # the same node, no restart
            assert made.status_code == 201, made.text
            order_id = made.json()["id"]
            assert client.post(f"/api/orders/{order_id}/tender", json={"tender": "cash"}).is_success
            paid = client.post(f"/api/orders/{order_id}/confirm", json={})
            assert paid.status_code == 200 and paid.json()["accepted"], paid.text
            assert _sharing(client)
        with node.phone() as phone:
            page = phone.get(f"/o/{order_id}").text
        found = re.search(r'data-issued-pass="([^"]+)"', page)
        assert found is not None, page
        text = html.unescape(found.group(1))
    finally:
        node.stop()
    trust = TrustStore({CREATOR: Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))})
    trust.add_delegation(base64.b64decode(granted.json()["delegation"]))
    verified = trust.verify(text, int(time.time()))
    assert verified.issuer == CREATOR
