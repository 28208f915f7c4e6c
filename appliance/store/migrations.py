"""Versioned, forward-only schema migrations, run at every start inside one transaction.

A migration is never edited once released: a change is a new entry at the end. The receipts table
is append-only, enforced by triggers, so not even a bug in our own code can rewrite history.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: tuple[str, ...] = (
    # 1: the checkout core and the ledger
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE items (
        sku      TEXT PRIMARY KEY,
        name     TEXT NOT NULL,
        price    INTEGER NOT NULL CHECK (price >= 0),
        currency TEXT NOT NULL,
        stock    INTEGER CHECK (stock IS NULL OR stock >= 0),
        active   INTEGER NOT NULL DEFAULT 1
    ) STRICT;

    CREATE TABLE receipts (
        seq        INTEGER PRIMARY KEY CHECK (seq >= 0),
        line       TEXT NOT NULL UNIQUE,
        items      TEXT NOT NULL,
        kind       TEXT NOT NULL,
        total      INTEGER NOT NULL,
        order_id   TEXT,
        created_at TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER receipts_append_only_update BEFORE UPDATE ON receipts
        BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
    CREATE TRIGGER receipts_append_only_delete BEFORE DELETE ON receipts
        BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;

    CREATE TABLE orders (
        id          TEXT PRIMARY KEY,
        number      INTEGER NOT NULL UNIQUE,
        state       TEXT NOT NULL CHECK (state IN
                      ('open', 'awaiting_payment', 'paid', 'cancelled', 'expired', 'voided')),
        currency    TEXT NOT NULL,
        tender      TEXT,
        reference   TEXT,
        note        TEXT NOT NULL DEFAULT '',
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        receipt_seq INTEGER REFERENCES receipts (seq),
        void_seq    INTEGER REFERENCES receipts (seq)
    ) STRICT;
    CREATE INDEX orders_by_state ON orders (state, updated_at);

    CREATE TABLE order_lines (
        order_id   TEXT NOT NULL REFERENCES orders (id),
        sku        TEXT NOT NULL,
        name       TEXT NOT NULL,
        unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
        qty        INTEGER NOT NULL CHECK (qty > 0),
        PRIMARY KEY (order_id, sku)
    ) STRICT;

    CREATE TABLE decisions (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        order_id TEXT REFERENCES orders (id),
        rail     TEXT NOT NULL,
        amount   INTEGER NOT NULL,
        currency TEXT NOT NULL,
        verdict  TEXT NOT NULL CHECK (verdict IN ('accept', 'refuse', 'override')),
        reason   TEXT NOT NULL CHECK (reason <> ''),
        operator TEXT,
        settled  INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX decisions_outstanding ON decisions (rail, settled);

    CREATE TABLE sync_state (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        acked_seq  INTEGER NOT NULL DEFAULT -1,
        updated_at TEXT
    ) STRICT;
    INSERT INTO sync_state (id) VALUES (1);
    """,
    # 2: drops and their claims
    """
    CREATE TABLE drops (
        id           INTEGER PRIMARY KEY,
        sku          TEXT NOT NULL,
        name         TEXT NOT NULL,
        price        INTEGER NOT NULL CHECK (price >= 0),
        currency     TEXT NOT NULL,
        quantity     INTEGER NOT NULL CHECK (quantity > 0),
        starts_at    TEXT NOT NULL,
        per_attendee INTEGER NOT NULL CHECK (per_attendee > 0),
        hold_s       INTEGER NOT NULL CHECK (hold_s > 0),
        created_at   TEXT NOT NULL,
        taken        INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= quantity),
        claims       INTEGER NOT NULL DEFAULT 0
    ) STRICT;

    CREATE TABLE drop_claims (
        id         INTEGER PRIMARY KEY,
        drop_id    INTEGER NOT NULL REFERENCES drops (id),
        attendee   TEXT NOT NULL,
        qty        INTEGER NOT NULL CHECK (qty > 0),
        place      INTEGER NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('held', 'paid', 'expired')),
        order_id   TEXT NOT NULL REFERENCES orders (id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        UNIQUE (drop_id, place)
    ) STRICT;
    CREATE INDEX drop_claims_active ON drop_claims (drop_id, state, attendee);
    CREATE INDEX drop_claims_expiry ON drop_claims (state, expires_at);
    """,
    # 3: what the sync daemon last knew of the cloud, for the node's /api/sync and the console
    """
    ALTER TABLE sync_state ADD COLUMN checkpoint TEXT;
    ALTER TABLE sync_state ADD COLUMN tree_size INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_state ADD COLUMN cloud_seq INTEGER;
    ALTER TABLE sync_state ADD COLUMN last_contact TEXT;
    ALTER TABLE sync_state ADD COLUMN last_error TEXT;
    ALTER TABLE sync_state ADD COLUMN stopped TEXT;
    ALTER TABLE sync_state ADD COLUMN via TEXT;
    """,
    # 4: batches this box relays for peers without an uplink, and the cloud's answers to them
    """
    CREATE TABLE relay_batches (
        id          INTEGER PRIMARY KEY,
        origin      TEXT NOT NULL,
        from_seq    INTEGER NOT NULL CHECK (from_seq >= 0),
        last_seq    INTEGER NOT NULL CHECK (last_seq >= from_seq),
        known_size  INTEGER NOT NULL CHECK (known_size >= 0),
        body        BLOB NOT NULL,
        digest      TEXT NOT NULL,
        received_at TEXT NOT NULL,
        status      INTEGER,
        answer      TEXT,
        answered_at TEXT,
        UNIQUE (origin, digest)
    ) STRICT;
    CREATE INDEX relay_batches_queue ON relay_batches (status, id);
    CREATE INDEX relay_batches_origin ON relay_batches (origin, last_seq);
    """,
    # 5: funnel counts per minute, shipped by the sync daemon after the receipts
    """
    CREATE TABLE funnel_minutes (
        minute  TEXT PRIMARY KEY,
        menu    INTEGER NOT NULL DEFAULT 0,
        cart    INTEGER NOT NULL DEFAULT 0,
        ordered INTEGER NOT NULL DEFAULT 0,
        paid    INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    ALTER TABLE sync_state ADD COLUMN funnel_sent TEXT;
    """,
    # 6: when a paid order was ready for pick-up (the console's orders screen, the receipt page)
    """
    ALTER TABLE orders ADD COLUMN ready_at TEXT;
    """,
    # 7: a drop claim found by its order: confirm, void and the expiry sweep ask this of every
    # order, and without the index each asked by scanning every claim of every drop
    """
    CREATE UNIQUE INDEX drop_claims_by_order ON drop_claims (order_id);
    """,
    # 8: the policy decides at tender; confirm, cancel, expiry and void find an order's decision
    """
    CREATE INDEX decisions_by_order ON decisions (order_id);
    """,
    # 9: the cash an attendee handed over, when the console gave it at confirm (minor units):
    # the receipt page shows the change due
    """
    ALTER TABLE orders ADD COLUMN cash_received INTEGER;
    """,
    # 10: the cloud's log rolled back and a new epoch began (sync/epoch.py): the console says so
    """
    ALTER TABLE sync_state ADD COLUMN incident TEXT;
    """,
    # 11: every restock, append-only like the receipts: who changed an item's stock,
    # by how much, when, and what it was after
    """
    CREATE TABLE stock_moves (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        sku      TEXT NOT NULL REFERENCES items (sku),
        delta    INTEGER NOT NULL,
        stock    INTEGER NOT NULL CHECK (stock >= 0),
        operator TEXT NOT NULL,
        note     TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE TRIGGER stock_moves_append_only_update BEFORE UPDATE ON stock_moves
        BEGIN SELECT RAISE(ABORT, 'stock moves are append-only'); END;
    CREATE TRIGGER stock_moves_append_only_delete BEFORE DELETE ON stock_moves
        BEGIN SELECT RAISE(ABORT, 'stock moves are append-only'); END;
    """,
    # 12: customer displays: the hash of each one's display-only token and the console it follows
    """
    CREATE TABLE display_tokens (
        token_hash TEXT PRIMARY KEY,
        console    TEXT NOT NULL UNIQUE,
        paired_at  TEXT NOT NULL
    ) STRICT;
    """,
    # 13: what passes took off an order, and the allowance units it redeemed (docs/passes.md);
    # written in the order's own transaction, counted per pass and period while the order stands
    """
    CREATE TABLE order_discounts (
        order_id TEXT NOT NULL REFERENCES orders (id),
        sku      TEXT NOT NULL,
        name     TEXT NOT NULL,
        amount   INTEGER NOT NULL CHECK (amount > 0),
        pass_id  TEXT NOT NULL,
        redeemed INTEGER NOT NULL DEFAULT 0 CHECK (redeemed >= 0),
        period   TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (order_id, sku)
    ) STRICT;
    CREATE INDEX order_discounts_by_pass ON order_discounts (pass_id, period);
    """,
    # 14: the canary judge's decisions on this box (switch a flag's arm off, or pass it): edge
    # decisions like the offline policy's, append-only, per bundle (sha256 of its wire form)
    """
    CREATE TABLE flag_decisions (
        id      INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        bundle  TEXT NOT NULL,
        flag    TEXT NOT NULL,
        variant TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('off', 'pass')),
        reason  TEXT NOT NULL,
        figures TEXT NOT NULL
    ) STRICT;
    CREATE INDEX flag_decisions_by_bundle ON flag_decisions (bundle);
    CREATE TRIGGER flag_decisions_append_only_update BEFORE UPDATE ON flag_decisions
        BEGIN SELECT RAISE(ABORT, 'flag decisions are append-only'); END;
    """,
    # passes this box sold and issued (docs/passes.md, "Selling a pass"): written in the
    # transaction that marks the order paid, one per unit of a pass product; never changed
    """
    CREATE TABLE pass_sales (
        order_id  TEXT NOT NULL REFERENCES orders (id),
        idx       INTEGER NOT NULL CHECK (idx >= 0),
        sku       TEXT NOT NULL,
        pass_id   TEXT NOT NULL UNIQUE,
        holder    TEXT NOT NULL,
        text      TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        PRIMARY KEY (order_id, idx)
    ) STRICT;
    CREATE TRIGGER pass_sales_append_only_update BEFORE UPDATE ON pass_sales
        BEGIN SELECT RAISE(ABORT, 'issued passes are append-only'); END;
    CREATE TRIGGER pass_sales_append_only_delete BEFORE DELETE ON pass_sales
        BEGIN SELECT RAISE(ABORT, 'issued passes are append-only'); END;
    """,
    # conversion latency per funnel minute (issue 20): counts per bucket of
    # appliance/ledger/figures.py's CONVERSION_BOUNDS_S, comma-separated (NULL: none measured),
    # and the latencies' sum in milliseconds; synced with the minute
    """
    ALTER TABLE funnel_minutes ADD COLUMN conversion TEXT;
    ALTER TABLE funnel_minutes ADD COLUMN conversion_sum_ms INTEGER NOT NULL DEFAULT 0;
    """,
    # redemptions of pass allowances shared between a creator's boxes over the LAN
    # (appliance/services/pass_peers.py, docs/passes.md "Redemptions between boxes"): this
    # box's own (box '', one per allowance discount, by a trigger in the order's transaction)
    # and its peers' (their key id, seq and signature, stored before they count); and every
    # over-redemption found when they meet, until the sync daemon has told the cloud.
    """
    CREATE TABLE pass_redemptions (
        box          TEXT NOT NULL,
        seq          INTEGER NOT NULL CHECK (seq > 0),
        pass_id      TEXT NOT NULL,
        period       TEXT NOT NULL,
        units        INTEGER NOT NULL CHECK (units > 0),
        allowance    INTEGER NOT NULL DEFAULT 0,
        out_of_sight INTEGER NOT NULL DEFAULT 1,
        order_id     TEXT,
        at           TEXT NOT NULL,
        sig          TEXT,
        PRIMARY KEY (box, seq)
    ) STRICT;
    CREATE INDEX pass_redemptions_by_pass ON pass_redemptions (pass_id, period);
    CREATE UNIQUE INDEX pass_redemptions_own ON pass_redemptions (order_id, pass_id, period)
        WHERE box = '';
    CREATE INDEX pass_redemptions_lacking ON pass_redemptions (seq)
        WHERE box = '' AND allowance = 0;
    CREATE TRIGGER pass_redemptions_own_insert AFTER INSERT ON order_discounts
        WHEN NEW.redeemed > 0
    BEGIN
        INSERT OR IGNORE INTO pass_redemptions
            (box, seq, pass_id, period, units, order_id, at)
        VALUES ('', (SELECT coalesce(max(seq), 0) + 1 FROM pass_redemptions WHERE box = ''),
                NEW.pass_id, NEW.period, NEW.redeemed, NEW.order_id,
                strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
    END;
    CREATE TABLE pass_overs (
        pass_id   TEXT NOT NULL,
        period    TEXT NOT NULL,
        used      INTEGER NOT NULL,
        allowance INTEGER NOT NULL,
        found_at  TEXT NOT NULL,
        reported  INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (pass_id, period)
    ) STRICT;
    """,
    # "popular right now" on the menu (services/popular.py) reads the last hour's sales by time
    """
    CREATE INDEX receipts_by_kind_time ON receipts (kind, created_at);
    """,
    # a drop claim in a rush writes its own row and the drop's counter, nothing else; the order,
    # its line and the tender's decision are built from the row when first asked for (the pay
    # page, a confirm, the hold's expiry, the sweep), so the row carries what they need and its
    # order_id may not name an order yet (services/drops.py, "claims first, orders after")
    """
    CREATE TABLE drop_claims_new (
        id         INTEGER PRIMARY KEY,
        drop_id    INTEGER NOT NULL REFERENCES drops (id),
        attendee   TEXT NOT NULL,
        qty        INTEGER NOT NULL CHECK (qty > 0),
        place      INTEGER NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('held', 'paid', 'expired')),
        order_id   TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        number     INTEGER,
        tender     TEXT,
        reference  TEXT,
        reason     TEXT,
        built      INTEGER NOT NULL DEFAULT 1 CHECK (built IN (0, 1)),
        CHECK (built = 1 OR (number > 0 AND tender <> '' AND reason <> '')),
        UNIQUE (drop_id, place)
    ) STRICT;
    INSERT INTO drop_claims_new (id, drop_id, attendee, qty, place, state, order_id, created_at,
        expires_at) SELECT id, drop_id, attendee, qty, place, state, order_id, created_at,
        expires_at FROM drop_claims;
    DROP TABLE drop_claims;
    ALTER TABLE drop_claims_new RENAME TO drop_claims;
    CREATE INDEX drop_claims_active ON drop_claims (drop_id, state, attendee);
    CREATE INDEX drop_claims_expiry ON drop_claims (state, expires_at);
    CREATE UNIQUE INDEX drop_claims_by_order ON drop_claims (order_id);
    """,
    # the sync daemon holds uploads in a drop's rush: why and until when, for /api/sync and the
    # console, so a growing outbox does not look like a broken sync (docs/operations.md)
    """
    ALTER TABLE sync_state ADD COLUMN paused TEXT;
    ALTER TABLE sync_state ADD COLUMN paused_until TEXT;
    """,
)


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the schema version stored in the database (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration the database lacks, each in its own BEGIN IMMEDIATE; return the version."""
    version = schema_version(conn)
    if version > len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"schema version {version} is newer than this stallbox knows ({len(MIGRATIONS)}); "
            "upgrade stallbox"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (f"migration.{number}", datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    """Split a script into statements (sqlite3.complete_statement keeps triggers whole)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
