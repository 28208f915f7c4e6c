"""The migration that lets a drop claim's order be built later keeps a box's claims as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.store import migrations
from appliance.store.connection import open_sync
from appliance.store.drops import build_claimed_orders, built_to, units_held_by_each
from appliance.store.orders import load_order, next_order_number

AT = "2026-11-26T18:00:00+00:00"
CLAIM_COLUMNS = "id, drop_id, attendee, qty, place, state, order_id, created_at, expires_at"


def test_claims_stored_before_the_migration_are_kept_and_count_as_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = next(i for i, s in enumerate(migrations.MIGRATIONS) if "drop_claims_new" in s)
    conn = open_sync(tmp_path / "ledger.db")
    with monkeypatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:index])
        migrations.migrate(conn)
    conn.execute(
        "INSERT INTO drops (id, sku, name, price, currency, quantity, starts_at, per_attendee,"
        " hold_s, created_at, taken, claims) VALUES (1, 'tee', 'Tee', 2500, 'BRL', 5, ?, 2, 300,"
        " ?, 3, 2)",
        (AT, AT),
    )
    for number, (order_id, state, claim) in enumerate(
        (("o-held", "awaiting_payment", "held"), ("o-paid", "paid", "paid")), start=1
    ):
        conn.execute(
            "INSERT INTO orders (id, number, state, currency, tender, reference, created_at,"
            " updated_at) VALUES (?, ?, ?, 'BRL', 'cash', ?, ?, ?)",
            (order_id, number, state, f"D1-{number}", AT, AT),
        )
        conn.execute(
            "INSERT INTO order_lines (order_id, sku, name, unit_price, qty)"
            " VALUES (?, 'tee', 'Tee', 2500, ?)",
            (order_id, number),
        )
        conn.execute(
            f"INSERT INTO drop_claims ({CLAIM_COLUMNS}) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
            (number, f"a:{number}", number, number, claim, order_id, AT, AT),
        )
    before = conn.execute(f"SELECT {CLAIM_COLUMNS} FROM drop_claims ORDER BY id").fetchall()

    assert migrations.migrate(conn) == len(migrations.MIGRATIONS)

    assert conn.execute(f"SELECT {CLAIM_COLUMNS} FROM drop_claims ORDER BY id").fetchall() == before
    assert conn.execute("SELECT built FROM drop_claims").fetchall() == [(1,), (1,)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    indexes = {row[1] for row in conn.execute("PRAGMA index_list(drop_claims)")}
    assert {"drop_claims_active", "drop_claims_expiry", "drop_claims_by_order"} <= indexes
    assert units_held_by_each(conn, 1) == {"a:1": 1, "a:2": 2}
    assert next_order_number(conn) == 3
    conn.execute("BEGIN IMMEDIATE")
    assert build_claimed_orders(conn, datetime.max.replace(tzinfo=UTC)) == 0
    assert built_to(conn, 0) == (2, False)
    assert load_order(conn, "o-held").lines[0].qty == 1
    conn.execute("ROLLBACK")
    conn.close()
