"""Conversion latency histograms with the funnel minutes (issue 20), on both stores: stored
beside the minute, replaced with it, dropped when the minute comes again without one, checked
at the edge (named field, 422); an upload without them (a box before them) is still taken; a
deleted device's creator rows go with it."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudfix import CloudClient, StoreOpener, make_chain, open_store, run_with_cloud
from pgserver import pg_server

from appliance.ledger.figures import Latencies
from sync.cloud.creator_store import CreatorTables, EdgeDecision

__all__ = ["open_store", "pg_server"]  # fixtures, used by name

BUCKETS = [1, 0, 2, 0, 0, 0, 0, 0, 0]


def test_latencies_are_stored_replaced_and_checked(open_store: StoreOpener) -> None:
    chain, idle = make_chain(2), make_chain(1)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        tables: CreatorTables = client.app.state.creator_tables
        url, auth = f"/v1/devices/{chain.device}/funnel", {"Authorization": f"Bearer {token}"}
        old = {"minute": "2026-11-28T18:00", "menu": 9, "cart": 4, "order": 3, "paid": 3}
        measured = {**old, "conversion": {"buckets": BUCKETS, "sum_ms": 95_000}}
        later = {**old, "minute": "2026-11-28T18:01"}
        answer = await client.http.post(url, json={"v": 1, "minutes": [old]}, headers=auth)
        assert answer.status_code == 200 and await tables.conversion_rows(chain.device) == []
        answer = await client.http.post(
            url, json={"v": 1, "minutes": [measured, later]}, headers=auth
        )
        assert answer.json() == {"stored": 2}
        stored = Latencies(tuple(BUCKETS), 95_000)
        assert await tables.conversion_rows(chain.device) == [("2026-11-28T18:00", stored)]
        again = {**measured, "conversion": {"buckets": [0, 0, 0, 0, 0, 0, 0, 0, 1], "sum_ms": 1}}
        await client.http.post(url, json={"v": 1, "minutes": [again]}, headers=auth)
        replaced = Latencies((0, 0, 0, 0, 0, 0, 0, 0, 1), 1)
        assert await tables.conversion_rows(chain.device) == [("2026-11-28T18:00", replaced)]
        await client.http.post(url, json={"v": 1, "minutes": [old]}, headers=auth)
        assert await tables.conversion_rows(chain.device) == []  # the minute, now without
        bad = [
            ({"buckets": [1, 2], "sum_ms": 0}, 422, "minutes[0].conversion.buckets: 2 counts"),
            ({"buckets": [4, *BUCKETS[1:]], "sum_ms": 0}, 422, "6 latencies for 3 paid"),
            ({"buckets": [-1, *BUCKETS[1:]], "sum_ms": 0}, 422, "minutes[0].conversion.buckets"),
            ({"buckets": BUCKETS, "sum_ms": -5}, 422, "minutes[0].conversion.sum_ms"),
            ({"buckets": BUCKETS}, 422, "conversion.sum_ms: missing"),
            ({**measured["conversion"], "p50": 3}, 422, "conversion.p50: unknown key"),  # type: ignore[dict-item]
        ]
        for conversion, status, field in bad:
            body = {"v": 1, "minutes": [{**old, "conversion": conversion}]}
            answer = await client.http.post(url, json=body, headers=auth)
            assert answer.status_code == status and field in answer.json()["error"], (
                conversion,
                answer.text,
            )
        assert await tables.conversion_rows(chain.device) == []  # nothing of a refused batch

        await client.enrol(idle)
        await client.http.post(url, json={"v": 1, "minutes": [measured]}, headers=auth)
        now = datetime.now(UTC).isoformat()
        await tables.add_creator("ana", "hash", now)
        await tables.assign(idle.device, "ana", "fair", now)
        decision = EdgeDecision(idle.device, "b", "f", "v", now, "off", "r", "{}")
        await tables.add_decisions([decision])
        assert await client.store.delete_device(idle.device) is True
        assert await tables.forget_device(idle.device) == 2
        assert await tables.assignment(idle.device) is None
        assert await tables.decisions([idle.device]) == []
        assert await tables.forget_device(idle.device) == 0
        assert len(await tables.conversion_rows(chain.device)) == 1  # another box's: kept

    run_with_cloud(open_store, scenario)
