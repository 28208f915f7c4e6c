"""Allowances over three boxes: none beyond with the LAN up, a known bound with it cut, all found."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.passes.allowance import Book, Redemption, Split, offline_quota, worst_over_redemption

BOXES = ["box-a", "box-b", "box-c"]


def night(
    seed: int, split: Split, cut: tuple[int, int], attempts: int = 1000
) -> tuple[list[Book], dict[str, int]]:
    """1,000 redemption attempts of 100 passes over three boxes; the LAN is cut for attempts in `cut`."""
    rng = random.Random(seed)
    allowances = {f"pass-{i}": rng.choice([1, 1, 2, 3, 5]) for i in range(100)}
    books = [Book() for _ in BOXES]
    seqs = dict.fromkeys(BOXES, 0)
    unheard: list[Redemption] = []  # redemptions not yet carried to every box
    for attempt in range(attempts):
        in_sight = not cut[0] <= attempt < cut[1]
        if in_sight:  # the LAN carries every redemption to every box before the next one counts
            for book in books:
                book.merge(unheard)
            unheard.clear()
        i = rng.randrange(len(BOXES))
        pass_id = rng.choice(sorted(allowances))
        if books[i].may_redeem(pass_id, "night-1", allowances[pass_id], box=BOXES[i], boxes=3,
                               in_sight=in_sight, split=split):  # fmt: skip
            seqs[BOXES[i]] += 1
            redemption = Redemption(pass_id, "night-1", BOXES[i], seqs[BOXES[i]], not in_sight)
            books[i].merge([redemption])
            unheard.append(redemption)
    return books, allowances


def merged(books: list[Book]) -> Book:
    return Book(r for book in books for r in book._seen.values())


def test_with_the_lan_up_no_pass_is_redeemed_beyond_its_allowance() -> None:
    books, allowances = night(1, Split.CEIL, cut=(0, 0))
    assert merged(books).over_redeemed(allowances) == []


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10**6), st.sampled_from(list(Split)), st.integers(0, 900), st.integers(1, 1000)
)
def test_with_the_lan_cut_over_redemption_stays_within_the_bound_and_is_all_found(
    seed: int, split: Split, start: int, length: int
) -> None:
    books, allowances = night(seed, split, cut=(start, start + length))
    excess = merged(books).over_redeemed(allowances)
    assert all(
        used - allowed <= worst_over_redemption(3, split) for _p, _d, used, allowed in excess
    )
    if split is Split.FLOOR:
        assert excess == []


def test_a_long_cut_with_ceil_does_over_redeem_and_the_merge_reports_it() -> None:
    """The bound is reached, not just respected: so the report above has something to find."""
    books, allowances = night(3, Split.CEIL, cut=(0, 1000))
    excess = merged(books).over_redeemed(allowances)
    assert excess and max(used - allowed for _p, _d, used, allowed in excess) == 2


@pytest.mark.parametrize(("remaining", "split", "quota"), [(1, Split.CEIL, 1), (1, Split.FLOOR, 0), (7, Split.CEIL, 3),
                                                          (7, Split.FLOOR, 2), (0, Split.CEIL, 0)])  # fmt: skip
def test_quota_of_three_boxes(remaining: int, split: Split, quota: int) -> None:
    assert offline_quota(remaining, 3, split) == quota


def test_merging_is_idempotent() -> None:
    r = Redemption("p", "night-1", "box-a", 1, False)
    book = Book([r])
    assert book.merge([r, r]) == 0
