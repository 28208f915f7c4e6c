"""'Popular right now' from the box's own sales (issue 20): a real ledger's sale lines of the last
hour, most sold first; older sales and voided ones do not count; the query reads sales by time
through an index; the picks are kept for a few seconds."""

from __future__ import annotations

from services_support import T0, Clock, run

from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.popular import PICKS, Popular, by_popularity


def sell(box: Box, clock: Clock, sales: list[tuple[str, int]]) -> list[str]:
    """Cash sales of (sku, qty), a minute apart; their order ids."""
    checkout = Checkout(box, clock=clock)

    async def go() -> list[str]:
        ids = []
        for sku, qty in sales:
            order = await checkout.create_order(lines=[(sku, qty)])
            await checkout.choose_tender(order.id, "cash")
            await checkout.confirm(order.id)
            ids.append(order.id)
            clock.advance(minutes=1)
        return ids

    return run(go())  # type: ignore[return-value]


def test_the_last_hours_sales_most_sold_first_without_older_or_voided_ones(
    box: Box, clock: Clock
) -> None:
    sell(box, clock, [("coffee", 9)])  # at T0: more than an hour before the question
    clock.advance(minutes=70)
    pastels = sell(box, clock, [("pastel", 2), ("coffee", 1), ("pastel", 1)])
    voided = sell(box, clock, [("coffee", 5)])
    run(Checkout(box, clock=clock).void(voided[0]))
    now = clock.now.timestamp()
    popular = Popular(box.writer, clock=lambda: now)
    assert run(popular.sold()) == (("pastel", 3), ("coffee", 1))
    assert len(pastels) == 3

    plan = box.writer.run_sync(
        lambda conn: conn.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM receipts WHERE kind = 'sale' AND created_at >= ?",
            (T0.isoformat(),),
        ).fetchall()
    )
    assert any("receipts_by_kind_time" in str(row) for row in plan), plan


def test_the_picks_are_kept_for_a_few_seconds(box: Box, clock: Clock) -> None:
    now = [clock.now.timestamp() + 60]
    popular = Popular(box.writer, ttl_s=5.0, clock=lambda: now[0])
    assert run(popular.sold()) == ()
    sell(box, clock, [("pastel", 1)])
    now[0] += 4
    assert run(popular.sold()) == ()  # kept: no query
    now[0] += 2
    assert run(popular.sold()) == (("pastel", 1),)


def test_best_sellers_first_then_the_catalogue_order() -> None:
    rows = ["a", "b", "c", "d", "e"]
    ordered, picks = by_popularity(rows, str, [("d", 7), ("b", 2), ("x", 1)])
    assert ordered == ["d", "b", "a", "c", "e"]
    assert picks == ["d", "b"]
    many = by_popularity(rows, str, [(r, 9 - n) for n, r in enumerate(rows)])[1]
    assert len(many) == PICKS
