"""One chain per numbered rule of docs/receipt-format.md, each breaking that rule and no other.

Chains are built by `chainkit`: the valid base chain with one field changed and every line
re-signed with real keys and re-linked, so the verifier must find exactly the rule named here,
at the seq named here (with the items at hand and, for the line rules, without them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from chainkit import (
    COFFEE,
    KEY,
    NEXT,
    PASTEL,
    STRANGER,
    Built,
    base,
    build,
    changed,
    close_items,
    keys,
    start_items,
)

from appliance.ledger.chain import ChainHead, parse_head, split_export, verify_chain
from appliance.ledger.errors import ChainBroken, LedgerError
from appliance.ledger.identity import public_key_text
from appliance.ledger.receipt import GENESIS_PREV, ReceiptType, b64

Chain = tuple[list[str], dict[int, Any]]
SALE, VOID, CLOSE, START = ReceiptType.SALE, ReceiptType.VOID, ReceiptType.CLOSE, ReceiptType.START


def test_the_base_chain_keeps_every_rule() -> None:
    chain, items = build(base())
    for given in (items, None):
        summary = verify_chain(chain.lines, keys(), items=given)
        assert summary.count == 10 and summary.device_id == KEY.key_id


def lines_of(chain: tuple[Built, dict[int, Any]]) -> Chain:
    return chain[0].lines, chain[1]


def _changed(index: int, **fields: Any) -> Callable[[], Chain]:
    return lambda: lines_of(changed(index, **fields))


def _device_everywhere() -> Chain:
    """A whole chain whose device id is not its first key's id, consistent on every line."""
    specs = [replace(s, device="aaaaaaaaaa") for s in base()]
    specs[0] = replace(specs[0], items=start_items(device="aaaaaaaaaa"))
    return lines_of(build(specs))


def _non_ascii() -> Chain:
    chain, items = build(base())
    lines = chain.lines
    lines[2] = lines[2].replace(";A2;", ";A\u00c9;")
    return lines, items


def _removed(index: int) -> Chain:
    chain, items = build(base())
    lines = chain.lines
    del lines[index]
    return lines, items


def _time_changed() -> Chain:
    chain, items = build(base())
    lines = chain.lines
    time = lines[3].split(";")[5]
    lines[3] = lines[3].replace(time, time[:4] + "1399" + time[8:])
    return lines, items


def _stranger() -> Chain:
    """A device whose key the verifier was not given."""
    start = replace(base()[0], key=STRANGER, device=STRANGER.key_id, items=start_items(STRANGER))
    return lines_of(build([start]))


def _void_of(seq: int) -> Chain:
    specs = base()
    extra = replace(specs[3], total=specs[seq].total, items=specs[seq].items, ref=str(seq), epoch=1)
    return lines_of(build([*specs, extra]))


def _rekey_to(other: Any) -> Chain:
    specs = base()
    specs[7] = replace(specs[7], key=other)
    return lines_of(build(specs[:8]))


_cases: list[tuple[str, Callable[[], Chain], int, int, bool]] = [
    # name, chain, seq, rule, also broken without the items at hand
    ("non-ASCII byte", _non_ascii, 2, 1, True),
    ("bad time", _time_changed, 3, 1, True),
    ("removed receipt", lambda: _removed(4), 4, 2, True),
    ("seq skips one", _changed(4, seq=5), 4, 2, True),
    ("another device in epoch 1", _changed(7, device="aaaaaaaaaa"), 7, 3, True),
    ("device is not the first key's id", _device_everywhere, 0, 5, True),
    ("epoch 1 signed with the epoch-0 key", _changed(2, epoch=1, key=KEY), 2, 4, True),
    ("epoch 1 at seq 0", _changed(0, epoch=1, key=KEY), 0, 4, True),
    ("epoch stays 0 after a rekey", _changed(7, epoch=0, key=NEXT), 7, 4, True),
    ("epoch jumps by 2 after a rekey", _changed(7, epoch=2), 7, 4, True),
    ("epoch 0 line signed by another key", _changed(2, key=NEXT), 2, 5, True),
    ("old key after a rekey", _changed(7, key=KEY), 7, 5, True),
    ("a second key within epoch 1", _changed(8, key=KEY), 8, 5, True),
    ("key not given", _stranger, 0, 6, True),
    ("prev of another line", _changed(3, prev=GENESIS_PREV), 3, 7, True),
    ("a second start", _changed(2, kind=START, total=0, ref="", items=start_items()), 2, 8, True),
    ("seq 0 is a sale", _changed(0, kind=SALE, total=1900, items=PASTEL, ref="A0"), 0, 8, True),
    ("currency changes", _changed(4, currency="EUR"), 4, 9, True),
    ("start total not zero", _changed(0, total=100), 0, 10, True),
    ("start ref not empty", _changed(0, ref="X"), 0, 10, True),
    ("close ref not empty", _changed(5, ref="X"), 5, 10, True),
    ("rekey total not zero", _changed(6, total=5), 6, 10, True),
    ("fail ref not empty", _changed(8, ref="X"), 8, 10, True),
    ("void of a void", lambda: _void_of(3), 10, 11, True),
    ("void of the start", lambda: _void_of(0), 10, 11, True),
    ("void of a later seq", _changed(3, ref="3"), 3, 11, True),
    ("void of another total", _changed(3, total=1800), 3, 11, True),
    ("void with other items", _changed(3, items=[{**PASTEL[0], "qty": 1, "unit": 1900}]), 3, 11, True),
    ("close total not the gross", _changed(5, total=3000, items=close_items(0, 4, 3, 3000, 1, 1900)), 5, 12, True),
    ("sale items add up to more", _changed(2, items=[{**COFFEE[0], "qty": 2}]), 2, 13, False),
    ("start items name another key", _changed(0, items=start_items(NEXT, KEY.key_id)), 0, 13, False),
    ("start items name another device", _changed(0, items=start_items(KEY, "aaaaaaaaaa")), 0, 13, False),
    ("close from_seq wrong", _changed(9, items=close_items(5, 8, 1, 600, 0, 0)), 9, 13, False),
    ("close to_seq wrong", _changed(9, items=close_items(6, 9, 1, 600, 0, 0)), 9, 13, False),
    ("close counts wrong", _changed(5, items=close_items(0, 4, 3, 3100, 0, 0)), 5, 13, False),
    ("rekey names epoch 2", _changed(6, items={"epoch": 2, "pubkey": public_key_text(NEXT.public)}), 6, 13, False),
    ("rekey to the same key", _changed(6, items={"epoch": 1, "pubkey": public_key_text(KEY.public)}), 6, 13, False),
    ("rekey to no key", _changed(6, items={"epoch": 1, "pubkey": "AAAA"}), 6, 13, False),
    ("close items with a key more", _changed(5, items={**close_items(0, 4, 3, 3100, 1, 1900), "net": 1200}), 5, 13, False),
    ("start items a list", _changed(0, items=[start_items()]), 0, 13, False),
    ("after a rekey, not the key it named", lambda: _rekey_to(STRANGER), 7, 5, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "seq", "rule", "line_rule"),
    [pytest.param(*case[1:], id=case[0]) for case in _cases],
)
def test_each_rule_breaks_alone(
    make: Callable[[], Chain], seq: int, rule: int, line_rule: bool
) -> None:
    lines, items = make()
    given = [KEY.public, NEXT.public, STRANGER.public] if rule != 6 else keys()
    with pytest.raises(ChainBroken) as caught:
        verify_chain(lines, given, items=items)
    assert (caught.value.seq, caught.value.rule) == (seq, rule), caught.value
    if line_rule:
        with pytest.raises(ChainBroken) as without:
            verify_chain(lines, given)
        assert (without.value.seq, without.value.rule) == (seq, rule), without.value
    else:
        verify_chain(lines, given)  # the line alone keeps every rule it can show


def test_a_void_of_a_later_seq_says_so() -> None:
    lines, _ = lines_of(changed(3, ref="3"))
    with pytest.raises(ChainBroken, match="seq 3: voids seq 3, which is not earlier"):
        verify_chain(lines, keys())


def test_items_at_hand_must_be_there_and_match() -> None:
    chain, items = build(base())
    del items[4]
    with pytest.raises(ChainBroken) as missing:
        verify_chain(chain.lines, keys(), items=items)
    assert (missing.value.seq, missing.value.rule, missing.value.reason) == (
        4,
        13,
        "line items missing",
    )
    items[4] = COFFEE + COFFEE
    with pytest.raises(ChainBroken, match="seq 4: items hash does not match") as other:
        verify_chain(chain.lines, keys(), items=items)
    assert other.value.rule == 13


def test_a_cut_tail_is_caught_against_a_known_head() -> None:
    chain, _ = build(base())
    head = ChainHead(10, chain.receipts[-1].hash)
    assert verify_chain(chain.lines, keys(), known_head=head).count == 10
    assert verify_chain(chain.lines[:7], keys()).count == 7  # a file alone cannot tell
    with pytest.raises(ChainBroken) as caught:
        verify_chain(chain.lines[:7], keys(), known_head=head)
    assert (caught.value.seq, caught.value.rule) == (7, 14)
    forked = ChainHead(5, chain.receipts[3].hash)
    with pytest.raises(ChainBroken) as fork:
        verify_chain(chain.lines, keys(), known_head=forked)
    assert (fork.value.seq, fork.value.rule) == (4, 14)


def test_a_known_head_reads_as_seq_and_hash() -> None:
    chain, _ = build(base())
    text = f"9:{b64(chain.receipts[-1].hash)}"
    assert parse_head(text) == ChainHead(10, chain.receipts[-1].hash)
    assert parse_head(text).text() == text
    for bad in ("", "9", "09:" + text[2:], "x:" + text[2:], "9:" + text[2:-1], "9:é"):
        with pytest.raises(LedgerError, match="head"):
            parse_head(bad)


def test_the_export_file_splits_on_lf_only() -> None:
    chain, _ = build(base())
    data = ("\r\n".join(chain.lines[:3]) + "\n\n" + chain.lines[3] + "\x0b").encode("latin-1")
    lines = split_export(data)
    assert lines[:3] == chain.lines[:3] and lines[3] == chain.lines[3] + "\x0b"
    with pytest.raises(ChainBroken) as caught:
        verify_chain(lines, keys())
    assert (caught.value.seq, caught.value.rule) == (3, 1)
    assert split_export("\n".join(chain.lines).encode()) == chain.lines
