"""`stallbox restore --from-cloud` trusts nothing the cloud sends (issue 22): a served ledger
with one altered line, a missing receipt or a head it does not reach writes no database."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest

from appliance.errors import StateError
from appliance.ledger.identity import load_key
from appliance.ledger.receipt import ReceiptType, b64, line_hash
from appliance.ledger.wire import Head, WireReceipt
from appliance.services.box import Box, init_state
from appliance.services.cloud_account import CloudAccount, save_account
from appliance.services.ledger_files import verify_state
from sync.catch_up import in_step
from sync.restore import LedgerPage, restore_from_cloud

T0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9"
Served = list[WireReceipt]


def ledger(tmp_path: Path, sales: int) -> tuple[Path, Served]:
    """A state dir with `sales` sales, enrolled; its receipts as the cloud would hold them."""
    state = tmp_path / "box"
    init_state(state, "BRL", T0)
    box = Box.open(state, "BRL")
    try:
        for i in range(sales):

            def sell(conn: sqlite3.Connection, i: int = i) -> None:
                items = [{"name": "Pastel", "qty": 1, "sku": "pastel", "unit": 950}]
                at = T0 + timedelta(seconds=i)
                box.append(conn, kind=ReceiptType.SALE, at=at, total=950, items=items)

            box.writer.run_sync(sell)
        rows = box.writer.run_sync(
            lambda c: c.execute("SELECT seq, line, items FROM receipts ORDER BY seq").fetchall()
        )
    finally:
        box.close()
    device = load_key(state).key_id
    save_account(state, CloudAccount(URL, device, "tok", "origin", "vkey"))
    return state, [WireReceipt(int(s), str(ln), str(it)) for s, ln, it in rows]


def cloud(served: Served, head: WireReceipt, page: int = 7) -> httpx.MockTransport:
    """A cloud serving `served` in pages of `page`, claiming `head` as the device's head."""

    def answer(request: httpx.Request) -> httpx.Response:
        device = request.url.path.split("/")[3]
        if request.url.path.endswith("/head"):
            body = Head(device, head.seq, b64(line_hash(head.line)))
            return httpx.Response(200, content=msgspec.json.encode(body))
        after = int(request.url.params["after"])
        chunk = [r for r in served if r.seq > after][:page]
        body2 = LedgerPage(device, after, chunk, len(chunk) == page)
        return httpx.Response(200, content=msgspec.json.encode(body2))

    return httpx.MockTransport(answer)


def lose_db(state: Path) -> None:
    for name in ("stallbox.db", "stallbox.db-wal", "stallbox.db-shm"):
        (state / name).unlink(missing_ok=True)


def test_a_served_ledger_is_restored_verified_and_acked(tmp_path: Path) -> None:
    state, served = ledger(tmp_path, 20)
    lose_db(state)
    done = restore_from_cloud(state, cloud(served, served[-1]))
    assert (done.count, done.head.next_seq) == (21, 21)
    assert verify_state(state).count == 21
    with sqlite3.connect(state / "stallbox.db") as conn:
        assert conn.execute("SELECT acked_seq FROM sync_state").fetchone() == (20,)
    opened = Box.open(state, "BRL")  # the node's way in: device id and epoch are there
    opened.close()


def _altered(served: Served) -> tuple[Served, WireReceipt]:
    bad = served[5]
    fields = bad.line.split(";")
    fields[8] = "1"  # the total: the signature no longer covers the line
    changed = [*served[:5], WireReceipt(bad.seq, ";".join(fields), bad.items), *served[6:]]
    return changed, served[-1]


def _missing(served: Served) -> tuple[Served, WireReceipt]:
    return [*served[:5], *served[6:]], served[-1]


def _short(served: Served) -> tuple[Served, WireReceipt]:
    return served[:10], served[-1]  # a head the pages never reach


def _items(served: Served) -> tuple[Served, WireReceipt]:
    bad = served[3]
    return [*served[:3], WireReceipt(bad.seq, bad.line, "[]"), *served[4:]], served[-1]


@pytest.mark.parametrize("tamper", [_altered, _missing, _short, _items])
def test_anything_not_this_devices_chain_writes_nothing(
    tmp_path: Path, tamper: Callable[[Served], tuple[Served, WireReceipt]]
) -> None:
    state, served = ledger(tmp_path, 12)
    lose_db(state)
    with pytest.raises(StateError, match="nothing was written"):
        restore_from_cloud(state, cloud(*tamper(served)))
    assert not (state / "stallbox.db").exists()


def test_it_never_writes_over_a_ledger(tmp_path: Path) -> None:
    state, served = ledger(tmp_path, 3)
    before = (state / "stallbox.db").read_bytes()
    with pytest.raises(StateError, match="a ledger is here"):
        restore_from_cloud(state, cloud(served, served[-1]))
    assert (state / "stallbox.db").read_bytes() == before


def test_init_refuses_a_second_chain_for_a_known_device(tmp_path: Path) -> None:
    state, _ = ledger(tmp_path, 1)
    lose_db(state)
    with pytest.raises(StateError, match="enrolled with a cloud"):
        init_state(state, "BRL", T0)
    (state / "cloud.json").unlink()  # not enrolled: the chain marker still knows
    with pytest.raises(StateError, match="chain was started here"):
        init_state(state, "BRL", T0)
    assert not (state / "stallbox.db").exists()
    fresh = tmp_path / "fresh"  # a key whose init was cut short: init goes on
    shutil.copytree(state, fresh)
    (fresh / "chain.json").unlink()
    assert init_state(fresh, "BRL", T0).created_db


def _acked(state: Path) -> tuple[int, str | None]:
    with sqlite3.connect(state / "stallbox.db") as conn:
        row = conn.execute("SELECT acked_seq, stopped FROM sync_state").fetchone()
    return int(row[0]), row[1]


def test_a_box_behind_the_cloud_is_caught_up_and_signs_no_fork(tmp_path: Path) -> None:
    state, served = ledger(tmp_path, 12)
    lose_db(state)
    restore_from_cloud(state, cloud(served[:7], served[6]))  # an older copy: up to seq 6
    done = in_step(state, cloud(served, served[-1]))
    assert (done.action, done.count, done.local_head) == ("appended", 6, 12)
    assert verify_state(state).count == 13
    assert _acked(state) == (12, None)
    again = in_step(state, cloud(served, served[-1]))
    assert (again.action, again.count) == ("in step", 0)


def test_a_cloud_behind_the_box_gets_the_rest_again(tmp_path: Path) -> None:
    state, served = ledger(tmp_path, 12)
    box = Box.open(state, "BRL")
    box.writer.run_sync(lambda c: c.execute(
        "UPDATE sync_state SET acked_seq = 12, stopped = 'gap: send seq 9 first'"
    ))  # fmt: skip
    box.close()
    done = in_step(state, cloud(served[:9], served[8]))  # the cloud lost seq 9-12
    assert (done.action, done.count, done.cloud_head) == ("rewound", 4, 8)
    assert _acked(state) == (8, None)


def test_a_fork_changes_nothing_and_names_the_seq(tmp_path: Path) -> None:
    state, served = ledger(tmp_path, 12)
    changed, head = _altered(served)  # seq 5 differs
    before = (state / "stallbox.db").read_bytes()
    with pytest.raises(StateError, match="fork at seq 5"):
        in_step(state, cloud(changed, head))
    assert (state / "stallbox.db").read_bytes() == before
