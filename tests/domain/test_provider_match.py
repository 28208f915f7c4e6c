"""The provider matcher: what confirms an order, and every lie that must confirm nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.money import Money
from appliance.domain.provider_match import Finding, ProviderCredit, Watched, judge

T0 = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


def brl(minor: int) -> Money:
    return Money(minor, "BRL")


def credit(e2e: str, txid: str, minor: int, minutes: int = 0) -> ProviderCredit:
    return ProviderCredit(e2e.ljust(32, "0"), txid, brl(minor), T0 + timedelta(minutes=minutes))


WAITING = [Watched("a", "001X", brl(1850), paid=False), Watched("b", "002Y", brl(900), paid=True)]


def test_a_credit_under_an_orders_txid_with_its_amount_confirms_it() -> None:
    verdict = judge(WAITING, [credit("E1", "001x", 1850)], {})
    assert [(w.order_id, c.e2eid[:2]) for w, c in verdict.confirm] == [("a", "E1")]
    assert verdict.problems == ()


def test_wrong_amount_unknown_txid_and_no_txid_confirm_nothing() -> None:
    verdict = judge(WAITING, [credit("E1", "001X", 1849), credit("E2", "ZZZZ", 900),
                              credit("E3", "", 900)], {})  # fmt: skip
    assert verdict.confirm == ()
    assert [(p.finding, p.order_id) for p in verdict.problems] == [
        (Finding.WRONG_AMOUNT, "a"), (Finding.UNKNOWN_TXID, None)]  # fmt: skip


def test_an_e2eid_already_used_for_another_order_is_a_duplicate() -> None:
    used = credit("E1", "002Y", 900)
    verdict = judge(WAITING, [used], {used.e2eid: "z"})
    assert verdict.confirm == ()
    assert [p.finding for p in verdict.problems] == [Finding.DUPLICATE_E2EID]


def test_an_e2eid_already_used_for_the_same_order_is_nothing_new() -> None:
    used = credit("E1", "002Y", 900)
    assert judge(WAITING, [used], {used.e2eid: "b"}) == judge(WAITING, [], {})


def test_one_e2eid_with_two_bodies_is_dropped_and_reported() -> None:
    verdict = judge(WAITING, [credit("E1", "001X", 1850), credit("E1", "002Y", 900)], {})
    assert verdict.confirm == ()
    assert [p.finding for p in verdict.problems] == [Finding.DUPLICATE_E2EID]


def test_two_credits_for_one_order_the_earliest_pays_the_other_is_reported() -> None:
    verdict = judge(WAITING, [credit("E2", "001X", 1850, 5), credit("E1", "001X", 1850, 1)], {})
    assert [c.e2eid[:2] for _, c in verdict.confirm] == ["E1"]
    assert [(p.finding, p.credit.e2eid[:2]) for p in verdict.problems] == [
        (Finding.PAID_TWICE, "E2")]  # fmt: skip


E2EIDS = st.sampled_from(["E1", "E2", "E3", "E4"])
TXIDS = st.sampled_from(["001X", "002Y", "ZZZZ", ""])
CREDITS = st.lists(
    st.builds(credit, E2EIDS, TXIDS, st.sampled_from([900, 1850, 1]), st.integers(0, 30)),
    max_size=8,
)


@given(CREDITS, st.randoms())
def test_order_and_repeats_never_change_the_verdict_and_nothing_is_paid_twice(
    credits: list[ProviderCredit], rnd: object
) -> None:
    verdict = judge(WAITING, credits, {})
    shuffled = list(credits) * 2
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert judge(WAITING, shuffled, {}) == verdict
    orders = [w.order_id for w, _ in verdict.confirm]
    e2eids = [c.e2eid for _, c in verdict.confirm]
    assert len(set(orders)) == len(orders) and len(set(e2eids)) == len(e2eids)
    for watched, paid_by in verdict.confirm:
        assert paid_by.amount == watched.amount and paid_by.txid.upper() == watched.reference
