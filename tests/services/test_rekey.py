"""`stallbox rekey` on a state dir: the rekey line, the key files, the chain across the epochs."""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from services_support import T0

from appliance.ledger.errors import KeyFileError
from appliance.ledger.identity import KEY_FILE, load_key
from appliance.ledger.receipt import ReceiptType, parse_receipt
from appliance.services.box import Box, init_state
from appliance.services.key_files import NEXT_KEY, current_key, retired_name
from appliance.services.ledger_files import export_lines, state_public_keys, verify_state
from appliance.services.rekey import rekey_state
from appliance.services.state_dir import StateInUse, check_state, lock_state
from appliance.tls import CERT_FILE, ensure_certificate

SALE = [{"sku": "pastel", "name": "Pastel", "qty": 1, "unit": 950, "total": 950}]


def _sell(state: Path, minutes: int) -> None:
    box = Box.open(state, "BRL")
    at = T0 + timedelta(minutes=minutes)
    try:
        box.writer.run_sync(
            lambda conn: box.append(
                conn, kind=ReceiptType.SALE, at=at, total=950, items=SALE, ref="R1"
            )
        )
    finally:
        box.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    init_state(tmp_path / "state", "BRL", T0)
    return tmp_path / "state"


def test_rekey_signs_the_next_epoch_with_the_new_key(state: Path) -> None:
    first = load_key(state)
    _sell(state, 1)
    done = rekey_state(state, T0 + timedelta(minutes=2))
    _sell(state, 3)

    lines = [parse_receipt(line) for line in export_lines(state)]
    assert [(r.kind, r.epoch, r.key_id) for r in lines[1:]] == [
        (ReceiptType.SALE, 0, first.key_id),
        (ReceiptType.REKEY, 0, first.key_id),
        (ReceiptType.SALE, 1, done.new_key),
    ]
    assert {r.device_id for r in lines} == {first.key_id}
    assert done.rekey_seq == 2 and done.epoch == 1
    summary = verify_state(state)
    assert summary.count == 4 and summary.device_id == first.key_id
    assert len(state_public_keys(state)) == 2
    new = load_key(state)
    assert new.key_id == done.new_key != first.key_id
    retired = state / retired_name(first.key_id)
    assert load_key(state, retired.name).key_id == first.key_id
    assert stat.S_IMODE(os.stat(state / KEY_FILE).st_mode) == 0o600
    assert not (state / NEXT_KEY).exists()
    check_state(state, "BRL")  # the state dir opens as a node would open it
    again = init_state(state, "BRL", T0)  # init again changes nothing
    assert not again.created_key and not again.created_db and again.device_id == first.key_id


def test_a_second_rekey_starts_epoch_two(state: Path) -> None:
    rekey_state(state, T0 + timedelta(minutes=1))
    done = rekey_state(state, T0 + timedelta(minutes=2))
    _sell(state, 3)
    assert done.epoch == 2
    assert parse_receipt(list(export_lines(state))[-1]).epoch == 2
    assert verify_state(state).count == 4


def test_rekey_refuses_while_the_node_holds_the_state(state: Path) -> None:
    with lock_state(state, "stallbox node"), pytest.raises(StateInUse):
        rekey_state(state, T0)
    assert [parse_receipt(line).kind for line in export_lines(state)] == [ReceiptType.START]


def test_a_rekey_cut_after_its_commit_is_finished_on_open(state: Path) -> None:
    done = rekey_state(state, T0 + timedelta(minutes=1))
    # put the files back as a power cut right after the commit would have left them
    retired = state / retired_name(done.old_key)
    os.replace(state / KEY_FILE, state / NEXT_KEY)
    os.replace(retired, state / KEY_FILE)
    assert check_state(state).key_id == done.new_key
    assert load_key(state).key_id == done.new_key and retired.exists()
    _sell(state, 2)
    assert verify_state(state).count == 3


def test_the_retired_key_alone_does_not_open_the_ledger(state: Path) -> None:
    done = rekey_state(state, T0 + timedelta(minutes=1))
    os.replace(state / retired_name(done.old_key), state / KEY_FILE)  # the new key is lost
    with pytest.raises(KeyFileError, match="signed by key"):
        current_key(state, done.new_key)


def test_the_certificate_is_issued_again_from_the_new_key(state: Path) -> None:
    ensure_certificate(state, load_key(state), "box")
    before = (state / CERT_FILE).read_bytes()
    rekey_state(state, T0 + timedelta(minutes=1))
    after = (state / CERT_FILE).read_bytes()
    assert after != before
    assert ensure_certificate(state, load_key(state), "box").read_bytes() == after


def test_the_opened_box_knows_every_epochs_key(state: Path) -> None:
    first = load_key(state)
    done = rekey_state(state, T0 + timedelta(minutes=1))
    box = Box.open(state, "BRL")
    try:
        old = box.public_key(first.key_id)  # the receipt page verifies older receipts with it
        assert old is not None and old.public_bytes_raw() == first.public.public_bytes_raw()
        assert box.public_key(done.new_key) is box.key.public and box.epoch == 1
        assert box.public_key("aaaaaaaaaa") is None
    finally:
        box.close()


def test_a_rekey_cut_before_its_commit_leaves_the_old_key_signing(state: Path) -> None:
    first = load_key(state)
    (state / NEXT_KEY).write_bytes(b"a key file written before the cut")  # never named
    os.chmod(state / NEXT_KEY, 0o600)
    assert check_state(state).key_id == first.key_id
    _sell(state, 1)
    done = rekey_state(state, T0 + timedelta(minutes=2))  # writes its own next key over it
    assert load_key(state).key_id == done.new_key and not (state / NEXT_KEY).exists()
    assert verify_state(state).count == 3
