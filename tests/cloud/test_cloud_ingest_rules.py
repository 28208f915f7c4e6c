"""The cloud's ingest checks the same receipt rules as `stallbox ledger verify`, batch by batch.

`sync.cloud.ingest.check_batch` is pure: these feed it chains from tests/ledger/chainkit.py
(real keys, one field changed and the rest re-signed) and expect a "chain" rejection at the
seq `ledger verify` names, with the receipts before it accepted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ledger"))
from chainkit import KEY, PASTEL, base, build, changed

from appliance.ledger.receipt import GENESIS_PREV, b64, canonical_items
from appliance.ledger.wire import NO_SEQ, VERSION, Batch, WireReceipt
from sync.cloud.ingest import check_batch

EPOCH_0 = 6  # the base chain's receipts before its rekey: the cloud knows one key per device


def batch(chain: Any, items: dict[int, Any]) -> Batch:
    wire = [
        WireReceipt(r.seq, r.line, canonical_items(items[r.seq]).decode())
        for r in chain.receipts[:EPOCH_0]
    ]
    return Batch(VERSION, 0, b64(GENESIS_PREV), wire, 0)


def test_the_base_chain_is_accepted() -> None:
    checked = check_batch(batch(*build(base())), KEY.key_id, KEY.public, NO_SEQ, GENESIS_PREV, {})
    assert checked.rejection is None and len(checked.new) == EPOCH_0


@pytest.mark.parametrize(
    ("index", "fields", "message"),
    [
        (4, {"currency": "EUR"}, "currency EUR in a chain of BRL"),
        (0, {"total": 100}, "total 100 on a start, where it is 0"),
        (5, {"ref": "X"}, "ref 'X' on a close, where it is empty"),
        (3, {"items": [{**PASTEL[0], "qty": 1, "unit": 1900}]}, "void items hash differs"),
        (5, {"total": 3000}, "close total 3000, but the sales since the last close add up to"),
        (2, {"epoch": 1, "key": KEY}, "epoch 1 where 0 was due"),
    ],
)
def test_a_broken_rule_is_a_chain_rejection(
    index: int, fields: dict[str, Any], message: str
) -> None:
    chain, items = changed(index, **fields)
    checked = check_batch(batch(chain, items), KEY.key_id, KEY.public, NO_SEQ, GENESIS_PREV, {})
    assert checked.rejection is not None
    assert (checked.rejection.reason, checked.rejection.seq) == ("chain", index)
    assert message in checked.rejection.message
    assert [n.seq for n in checked.new] == list(range(index))
