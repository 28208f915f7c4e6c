"""Conversion latency kept per funnel minute on the box (issue 20): merged into the minute's row
with its counts, read back for sync, and sent only where measured (old clouds take the rest)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.api.funnel import Funnel
from appliance.ledger.figures import Latencies, merge
from appliance.ledger.wire import encode
from appliance.services.box import Box, init_state
from appliance.store import funnel as funnel_sql
from appliance.store.migrations import MIGRATIONS, schema_version
from sync.funnel import wire_minute

T0 = datetime(2026, 11, 26, 18, 0, 30, tzinfo=UTC)


def test_latencies_fold_into_their_minute_and_go_to_sync(tmp_path: Path) -> None:
    init_state(tmp_path / "s", "BRL", T0)
    box = Box.open(tmp_path / "s", "BRL")
    try:
        assert box.writer.run_sync(schema_version) == len(MIGRATIONS)
        funnel = Funnel()
        start = T0.timestamp()
        for visitor, (order, paid_after) in enumerate([("o1", 4.0), ("o2", 40.0), ("o3", 9.0)]):
            funnel.viewed_menu(f"v{visitor}", now=start)
            funnel.ordered(f"v{visitor}", order)
            assert funnel.paid(order, now=start + paid_after) == paid_after
        funnel.ordered(None, "o4")
        assert funnel.paid("o4") is None  # no first view known: paid, but no latency
        first = funnel.take_latencies()
        assert first.count == 3 and funnel.take_latencies() == Latencies()
        counts = funnel.take()
        box.writer.run_sync(lambda c: funnel_sql.add_counts(c, T0, counts, first))
        later = Latencies().observe(100.0)  # the same minute again (a stop folds a part minute)
        box.writer.run_sync(lambda c: funnel_sql.add_counts(c, T0, Counter(paid=1), later))
        box.writer.run_sync(lambda c: funnel_sql.add_counts(c, T0 + timedelta(minutes=1),
                                                            Counter(menu=2)))  # fmt: skip
        rows = box.writer.run_sync(lambda c: funnel_sql.unsent(c, 10))
        assert [(r.minute, r.paid) for r in rows] == [
            ("2026-11-26T18:00", 5),
            ("2026-11-26T18:01", 0),
        ]
        assert rows[0].conversion == merge([first, later])
        assert rows[0].conversion.buckets == (2, 0, 1, 1, 0, 0, 0, 0, 0)
        assert rows[0].conversion.sum_ms == 153_000 and rows[1].conversion is None
        sent = [json.loads(encode(wire_minute(r))) for r in rows]
        assert sent[0]["conversion"] == {"buckets": [2, 0, 1, 1, 0, 0, 0, 0, 0], "sum_ms": 153000}
        assert "conversion" not in sent[1]  # as a box before it sent: a cloud before it takes it
    finally:
        box.close()
