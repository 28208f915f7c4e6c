"""The cloud verifies a batch's signatures on a thread pool: the verdicts are those without it.

`check_batch(..., pool)` verifies the new lines' signatures in slices on other threads while it
checks the chain in order; these check that a forged signature anywhere in a batch (first
slice, middle, last line) is still refused at its seq with the receipts before it accepted, that
a rekey inside a batch still hands over to the new key, and that a line "already verified" under
another key object is verified again (`appliance.ledger.chain.Verified` binds the key object).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ledger"))
from chainkit import KEY, NEXT, base, build
from cloudfix import Chain, make_chain

from appliance.ledger.chain import ChainState, Verified, check_receipt
from appliance.ledger.errors import ChainBroken
from appliance.ledger.identity import parse_public_key, public_key_text
from appliance.ledger.receipt import GENESIS_PREV, b64, canonical_items, parse_receipt
from appliance.ledger.wire import NO_SEQ, VERSION, Batch, WireReceipt
from sync.cloud.ingest import SLICE, check_batch

COUNT = 3 * SLICE + 7  # several slices and a short last one


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain(COUNT)


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def forged(line: str) -> str:
    """The line with its signature's first character changed (still canonical base64url)."""
    body, _, sig = line.rpartition(";")
    return f"{body};{'B' if sig[0] == 'A' else 'A'}{sig[1:]}"


def test_a_clean_batch_is_accepted_whole(chain: Chain, pool: ThreadPoolExecutor) -> None:
    batch = chain.batch(0, COUNT - 1)
    checked = check_batch(batch, chain.device, chain.key.public, NO_SEQ, GENESIS_PREV, {}, pool)
    assert checked.rejection is None
    assert [n.seq for n in checked.new] == list(range(COUNT))


@pytest.mark.parametrize("bad", [1, SLICE, 2 * SLICE + 3, COUNT - 1])
def test_a_forged_signature_is_refused_at_its_seq(
    chain: Chain, pool: ThreadPoolExecutor, bad: int
) -> None:
    batch = chain.batch(0, COUNT - 1)
    wire = batch.receipts[bad]
    batch.receipts[bad] = WireReceipt(wire.seq, forged(wire.line), wire.items)
    for executor in (pool, None):  # the same verdict with and without the pool
        checked = check_batch(
            batch, chain.device, chain.key.public, NO_SEQ, GENESIS_PREV, {}, executor
        )
        assert checked.rejection is not None
        assert (checked.rejection.reason, checked.rejection.seq) == ("signature", bad)
        assert [n.seq for n in checked.new] == list(range(bad))


def test_a_line_verified_under_another_key_object_is_verified_again(chain: Chain) -> None:
    line = forged(chain.receipts[0].line)
    receipt = parse_receipt(line)
    public = chain.key.public
    twin = parse_public_key(public_key_text(public))  # the same key, another object
    state = ChainState.resume(0, GENESIS_PREV, {chain.device: public})
    with pytest.raises(ChainBroken, match="signature does not verify"):
        check_receipt(receipt, state, None, Verified(twin, {line}))
    state = ChainState.resume(0, GENESIS_PREV, {chain.device: public})
    check_receipt(receipt, state, None, Verified(public, {line}))  # the caller's word, same key


def test_a_rekey_inside_a_batch_hands_over_to_the_new_key(pool: ThreadPoolExecutor) -> None:
    chain, items = build(base())  # tests/ledger/chainkit.py: a rekey at seq 6, then epoch 1
    wire = [
        WireReceipt(r.seq, r.line, canonical_items(items[r.seq]).decode()) for r in chain.receipts
    ]
    batch = Batch(VERSION, 0, b64(GENESIS_PREV), wire, 0)
    for executor in (pool, None):
        checked = check_batch(batch, KEY.key_id, KEY.public, NO_SEQ, GENESIS_PREV, {}, executor)
        assert checked.rejection is None, checked.rejection
        assert len(checked.new) == len(chain.receipts) > 7
        assert checked.new[6].next_key == public_key_text(NEXT.public)
