"""docs/operations.md's revocation and new-SD-card runbooks on real processes (issue 22).

Deleting pairing.json used to bring revoked console tokens back (tokens were checked against
the file's epoch alone). Now the ledger's database keeps the record, and a state dir restored
from a backup onto a new card refuses every token issued before: consoles pair again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nodeproc import NodeProcess, run_cli, start_node

from appliance.services.pairing import PAIRING_FILE
from appliance.unix_listener import SOCKET_NAME


def works(node: NodeProcess, token: str) -> bool:
    with node.client(token) as api:
        answer = api.get("/api/catalog")
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


def backup(state: Path, to: Path) -> None:
    """What the runbook backs up: key, config and the database (copied, as onto a new card)."""
    to.mkdir(mode=0o700)
    for name in ("device.key", "stallbox.toml", "stallbox.db", PAIRING_FILE):
        shutil.copy2(state / name, to / name)


def test_deleting_pairing_json_revives_no_revoked_token(tmp_path: Path) -> None:
    state = tmp_path / "s"
    node = start_node(state)
    try:
        old = node.pair()
        assert works(node, old)
        revoked = run_cli("pair", "--revoke", "--yes", "--state", str(state))  # via the socket
        assert revoked.returncode == 0, revoked.stderr
        assert not works(node, old)
        (state / PAIRING_FILE).unlink()  # while the node runs
        assert not works(node, old)
        new = node.pair()
        assert works(node, new)
        assert node.stop() == 0
        (state / PAIRING_FILE).unlink()  # and with the node stopped
        node = start_node(state)
        assert not works(node, old)
        assert works(node, new)  # nothing moved: tokens still standing stay good
        assert node.stop() == 0
        # revoked with the node stopped (on the ledger itself), then the file deleted
        assert run_cli("pair", "--revoke", "--yes", "--state", str(state)).returncode == 0
        (state / PAIRING_FILE).unlink()
        node = start_node(state)
        assert not works(node, new) and not works(node, old)
    finally:
        node.stop()


def test_a_new_sd_card_from_a_backup_refuses_every_earlier_token(tmp_path: Path) -> None:
    state, card = tmp_path / "s", tmp_path / "card"
    node = start_node(state)
    try:
        before = node.pair()  # in the backup's epoch
        assert node.stop() == 0
        backup(state, card)
        node = start_node(state)
        assert run_cli("pair", "--revoke", "--yes", "--state", str(state)).returncode == 0
        after = node.pair()  # issued on the old card after the backup
        assert not works(node, before) and works(node, after)
    finally:
        node.stop()
    restored = start_node(card)  # the backup on a new card (copied files: a new home)
    try:
        assert "has moved" in "".join(restored.output)
        assert not works(restored, before)  # revoked on the old card: not revived
        assert not works(restored, after)  # of the old card: consoles pair again
        again = restored.pair()  # consoles pair again; a restart on the same card keeps it
        assert works(restored, again)  # (test_deleting_pairing_json_revives_no_revoked_token)
        assert (card / SOCKET_NAME).exists()
    finally:
        restored.stop()
