"""Revoked at the cloud, refused at the box offline (issue 19): real cloud, node and daemon.

The cloud issues a pass for creator:ana (its key made on demand), the box trusts that creator's
public key and the node accepts the pass; the cloud revokes it; one `stallbox sync --once` round
fetches the creator's signed revocation list; the node then refuses the pass as `revoked` with
the cloud stopped, and again after a restart (the list was stored durably).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zxingcpp
from nodeproc import NodeProcess, run_cli, start_node
from PIL import Image
from syncproc import Proc, enrol, start_cloud

from appliance.cli import main

CREATOR = "creator:ana"


def _cart(node: NodeProcess, text: str) -> httpx.Response:
    with node.phone() as phone:
        return phone.post(
            "/cart", data={"dish": "1", "pass": text}, headers={"Accept-Language": "en"}
        )


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Proc]:
    running = start_cloud(tmp_path / "cloud")
    try:
        yield running
    finally:
        running.stop()


def test_revoked_at_the_cloud_is_refused_offline_after_one_round(
    tmp_path: Path, cloud: Proc, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cloud.state is not None
    cloud_state = str(cloud.state)  # the CLI runs in process here, on the cloud's state dir
    assert main(["cloud", "creator-key", CREATOR, "--state", cloud_state]) == 0
    public = capsys.readouterr().out.strip()
    assert main([
        "cloud", "pass", "issue", "--state", cloud_state, "--creator", CREATOR,
        "--holder", "Fan 1", "--valid-days", "30", "--entitlement", "percent_off:10:dish",
        "--out", str(tmp_path / "pass.png"),
    ]) == 0  # fmt: skip
    issued = capsys.readouterr()
    text = issued.out.strip()
    pass_id = issued.err.split()[1].rstrip(",")
    assert zxingcpp.read_barcodes(Image.open(tmp_path / "pass.png"))[0].text == text

    box = tmp_path / "box"
    assert run_cli("init", "--state", str(box), "--currency", "BRL").returncode == 0
    config = box / "stallbox.toml"
    config.write_text(
        config.read_text()
        + '\n[[catalog]]\nsku = "dish"\nname = "Dish"\nprice = "24.00"\n'
        + f'\n[passes]\ncreators = {{ "{CREATOR}" = "{public}" }}\n'
    )
    enrol(box, cloud.state, cloud.url)
    node = start_node(box)
    try:
        accepted = _cart(node, text)
        assert accepted.status_code == 200, accepted.text
        assert "Pass of Fan 1" in accepted.text and "Total: R$21.60" in accepted.text

        admin = (cloud.state / "admin.token").read_text().strip()
        revoked = httpx.post(
            f"{cloud.url}/api/creators/{CREATOR}/revocations", json={"pass_id": pass_id},
            headers={"Authorization": f"Bearer {admin}"}, timeout=10,
        )  # fmt: skip
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] == 1
        assert _cart(node, text).status_code == 200  # the box has not heard yet

        shipped = run_cli("sync", "--once", "--state", str(box))
        assert shipped.returncode == 0, shipped.stdout + shipped.stderr
        assert (box / "passes" / "synced.cbor").exists()
        cloud.stop()  # offline from here on

        refused = _cart(node, text)
        assert refused.status_code == 409
        assert 'data-pass-refused="revoked"' in refused.text
    finally:
        node.stop()
    again = start_node(box)
    try:
        assert 'data-pass-refused="revoked"' in _cart(again, text).text
    finally:
        again.stop()
