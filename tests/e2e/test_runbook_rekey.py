"""docs/operations.md's key rotation and compromise runbook on real processes (issue 22).

A box enrolled and in sync is revoked at the cloud (its key may have been copied) and runs
`stallbox rekey`: refused while the node runs; with the node stopped it signs a rekey line with
the old key naming a new one. After it the node signs with the new key in epoch 1 under the
same device id, its operator certificate is the new key's (a console pinned to the old one gets
the loud "key changed" error, and old tokens are void). Enrolled again, the box syncs: the
cloud accepts the rekey line and the new key's receipts, and the chain verifies across the
rekey at the box (`ledger verify --state`, and an export with `ledger pubkey`'s keys) and at
the cloud (`stallbox cloud verify`). A lost database is then restored from the cloud across
the rekey, and sync goes on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from nodeproc import NodeProcess, run_cli, start_node
from syncproc import cloud_head, enrol, make_sales, start_cloud

from appliance.ledger.identity import fingerprint, load_key
from appliance.ledger.receipt import parse_receipt
from tui.client import NodeClient
from tui.errors import ConsoleError, KeyChanged

SALES = 10


def sell(node: NodeProcess, token: str) -> int:
    """One cash sale through the operator API; the seq of its receipt."""
    with node.client(token) as api:
        order = api.post("/api/orders", json={"lines": [{"sku": "coffee", "qty": 1}]})
        order_id = order.json()["id"]
        api.post(f"/api/orders/{order_id}/tender", json={"tender": "cash"})
        sold = api.post(f"/api/orders/{order_id}/confirm", json={})
        assert sold.status_code == 200, sold.text
        return int(sold.json()["receipt"]["seq"])


async def console_error(url: str, pin: str) -> ConsoleError | None:
    """What a console that pinned `pin` meets at the node's operator address."""
    client = NodeClient(url, None, pin=pin, timeout_s=5)
    try:
        await client.identity()
    except ConsoleError as exc:
        return exc
    finally:
        await client.close()
    return None


def test_rekey_the_cloud_takes_the_new_key_and_the_chain_verifies_across_it(
    tmp_path: Path,
) -> None:
    box, cloud_state = tmp_path / "box", tmp_path / "cloud"
    head = make_sales(box, SALES)
    first = load_key(box)
    cloud = start_cloud(cloud_state)
    try:
        enrol(box, cloud_state, cloud.url)
        assert run_cli("sync", "--once", "--state", str(box)).returncode == 0
        assert cloud_head(box).seq == head
        # the key may have been copied: revoke at the cloud first (the compromise runbook)
        revoked = run_cli("cloud", "revoke", first.key_id, "--yes", "--state", str(cloud_state))
        assert revoked.returncode == 0, revoked.stderr
        node = start_node(box)
        try:
            old_pin, old_token = node.fingerprint, node.pair()
            refused = run_cli("rekey", "--yes", "--state", str(box))
            assert refused.returncode == 4 and "in use" in refused.stderr, refused.stderr
        finally:
            assert node.stop() == 0
        assert load_key(box).key_id == first.key_id  # the refusal changed nothing

        done = run_cli("rekey", "--yes", "--state", str(box))
        assert done.returncode == 0, done.stderr
        new = load_key(box)
        assert new.key_id != first.key_id and f"signed by key {new.key_id}" in done.stdout
        assert fingerprint(new.public) in done.stdout

        node = start_node(box)
        try:
            error = asyncio.run(console_error(node.operator_url, old_pin))
            assert isinstance(error, KeyChanged), error
            assert "THE NODE'S KEY HAS CHANGED" in str(error)
            with node.client(old_token) as api:  # signed by the retired key: void
                assert api.get("/api/catalog").status_code == 401
            answer = node.pair_answer()
            assert answer.node_id == first.key_id  # the device id stays
            assert sell(node, answer.token) == head + 2  # after the rekey line
        finally:
            assert node.stop() == 0

        stopped = run_cli("sync", "--once", "--state", str(box))
        assert stopped.returncode != 0 and "revoked" in stopped.stdout + stopped.stderr
        # enrolled again (a new API token; the cloud knows the box by its first key's id), the
        # rekey line signed by the old key moves the cloud to the new key
        enrol(box, cloud_state, cloud.url)
        resumed = run_cli("sync", "--resume", "--state", str(box))  # a running daemon would
        assert resumed.returncode == 0, resumed.stderr  # clear this stop itself
        sent = run_cli("sync", "--once", "--state", str(box))
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert cloud_head(box).seq == head + 2

        # the lost-database runbook still works for a rekeyed box: every epoch's key checked
        kept = box.parent / "kept.db"
        (box / "stallbox.db").rename(kept)
        restored = run_cli("restore", "--from-cloud", "--state", str(box))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert f"the next receipt is seq {head + 3}" in restored.stdout
        node = start_node(box)
        try:
            assert sell(node, node.pair()) == head + 3  # epoch 1, the new key
        finally:
            assert node.stop() == 0
        assert run_cli("sync", "--once", "--state", str(box)).returncode == 0
        assert cloud_head(box).seq == head + 3
    finally:
        assert cloud.stop() == 0

    lines = run_cli("ledger", "export", "--state", str(box)).stdout.splitlines()
    rekey, *sales = (parse_receipt(line) for line in lines[head + 1 :])
    assert (rekey.kind.value, rekey.epoch, rekey.key_id) == ("rekey", 0, first.key_id)
    assert [(r.epoch, r.key_id, r.device_id) for r in sales] == [(1, new.key_id, first.key_id)] * 2

    verified = run_cli("ledger", "verify", "--state", str(box))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"up to seq {head + 3}" in verified.stdout
    (tmp_path / "lines").write_text("\n".join(lines) + "\n")
    (tmp_path / "pub").write_text(run_cli("ledger", "pubkey", "--state", str(box)).stdout)
    offline = run_cli(
        "ledger", "verify", str(tmp_path / "lines"), "--pubkey", str(tmp_path / "pub")
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr

    audited = run_cli("cloud", "verify", "--state", str(cloud_state))
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert f"1 devices, {head + 4} receipts" in audited.stdout
