"""The cloud learns a device's next key from an accepted rekey line, and no other way.

Pure `check_batch` over tests/ledger/chainkit.py's base chain (start, sales, a void, a close, a
rekey to a second key, then epoch 1), plus both stores through the HTTP app: the trusted key
moves at the rekey, durably, and the retired key is refused after it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ledger"))
from chainkit import KEY, NEXT, STRANGER, base, build, changed
from cloudfix import LOG_KEY, ORIGIN, Chain, CloudClient, StoreOpener, open_store, run_with_cloud
from pgserver import pg_server

from appliance.ledger.identity import public_key_text
from appliance.ledger.receipt import GENESIS_PREV, ReceiptType, b64, canonical_items
from appliance.ledger.wire import NO_SEQ, VERSION, Batch, WireReceipt
from sync.checkpoint import NoteVerifier
from sync.cloud.audit import AuditReport, audit
from sync.cloud.ingest import check_batch

__all__ = ["open_store", "pg_server"]  # fixtures, used by name
VERIFIERS = [NoteVerifier.from_public_key(ORIGIN, LOG_KEY.public_key())]

REKEY = 6  # the seq of the base chain's rekey line


def batch(chain: Any, items: dict[int, Any], first: int, last: int) -> Batch:
    wire = [
        WireReceipt(r.seq, r.line, canonical_items(items[r.seq]).decode())
        for r in chain.receipts[first : last + 1]
    ]
    prev = GENESIS_PREV if first == 0 else chain.receipts[first - 1].hash
    return Batch(VERSION, first, b64(prev), wire, 0)


def test_one_batch_across_the_rekey_is_accepted_and_names_the_new_key() -> None:
    chain, items = build(base())
    checked = check_batch(batch(chain, items, 0, 9), KEY.key_id, KEY.public, NO_SEQ,
                          GENESIS_PREV, {})  # fmt: skip
    assert checked.rejection is None and len(checked.new) == 10
    assert [n.next_key for n in checked.new if n.next_key] == [public_key_text(NEXT.public)]
    assert checked.new[REKEY].next_key == public_key_text(NEXT.public)


def test_after_the_rekey_the_new_key_is_trusted_and_the_old_one_refused() -> None:
    chain, items = build(base())
    head = chain.receipts[REKEY]
    stored = {REKEY: head.line}  # the cloud's head is the rekey line
    after = batch(chain, items, REKEY + 1, 9)
    checked = check_batch(after, KEY.key_id, NEXT.public, REKEY, head.hash, stored)
    assert checked.rejection is None and len(checked.new) == 3
    # the same receipts signed by the retired key (epoch 1 claimed): refused, none appended
    forged, forged_items = changed(REKEY + 1, key=KEY)
    bad = check_batch(batch(forged, forged_items, REKEY + 1, 9), KEY.key_id, NEXT.public,
                      REKEY, head.hash, stored)  # fmt: skip
    assert bad.rejection is not None and bad.rejection.reason == "signature"
    assert f"signed with key {KEY.key_id}" in bad.rejection.message and not bad.new


def test_the_epoch_is_checked_across_a_batch_boundary_at_the_rekey() -> None:
    chain, items = changed(REKEY + 1, epoch=2, key=NEXT)
    head = chain.receipts[REKEY]
    bad = check_batch(batch(chain, items, REKEY + 1, 9), KEY.key_id, NEXT.public, REKEY,
                      head.hash, {REKEY: head.line})  # fmt: skip
    assert bad.rejection is not None and bad.rejection.reason == "chain"
    assert "epoch 2 where after a rekey 1 was due" in bad.rejection.message


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"epoch": 2, "pubkey": public_key_text(NEXT.public)}, "name epoch 2, the next is 1"),
        ({"epoch": 1, "pubkey": public_key_text(KEY.public)}, "a key of an earlier epoch"),
    ],
)
def test_a_rekey_with_bad_items_moves_no_key(items: dict[str, Any], message: str) -> None:
    specs = base()[: REKEY + 1]
    specs[REKEY] = specs[REKEY].__class__(ReceiptType.REKEY, 0, items)
    chain, all_items = build(specs)
    checked = check_batch(batch(chain, all_items, 0, REKEY), KEY.key_id, KEY.public, NO_SEQ,
                          GENESIS_PREV, {})  # fmt: skip
    assert checked.rejection is not None and checked.rejection.seq == REKEY
    assert message in checked.rejection.message
    assert all(n.next_key is None for n in checked.new)


def test_a_stranger_key_is_never_trusted_without_a_rekey() -> None:
    chain, items = changed(REKEY + 1, key=STRANGER, epoch=0)
    head = chain.receipts[REKEY - 1]
    bad = check_batch(batch(chain, items, REKEY, 7), KEY.key_id, KEY.public, REKEY - 1,
                      head.hash, {REKEY - 1: head.line})  # fmt: skip
    assert bad.rejection is not None and bad.rejection.seq == REKEY + 1


def _kit_chain() -> Chain:
    chain, items = build(base())
    texts = [canonical_items(items[r.seq]).decode() for r in chain.receipts]
    return Chain(KEY, list(chain.receipts), texts)


def test_both_stores_keep_the_new_key_and_verify_across_it(open_store: StoreOpener) -> None:
    chain = _kit_chain()
    forged, forged_items = changed(REKEY + 1, key=KEY)
    forged_batch = batch(forged, forged_items, REKEY + 1, 9)

    async def before(client: CloudClient) -> str:
        token = await client.enrol(chain)
        answer = await client.post(chain, token, chain.batch(0, REKEY))
        assert answer.status_code == 200, answer.text
        return token

    async def after(client: CloudClient, token: str) -> AuditReport:
        record = await client.store.device(chain.device)
        assert record is not None and record.public_key == public_key_text(NEXT.public)
        refused = await client.post(chain, token, forged_batch)
        assert refused.status_code == 409 and refused.json()["reason"] == "signature"
        answer = await client.post(chain, token, chain.batch(REKEY + 1, 9))
        assert answer.status_code == 200, answer.text
        assert answer.json()["head"]["seq"] == 9
        return await audit(client.store, VERIFIERS, [])

    token = run_with_cloud(open_store, before)  # a new process: the key came from the store
    report = run_with_cloud(open_store, lambda client: after(client, token))
    assert report.problems == [] and report.receipts == 10
