"""Catalogue items: validation at construction, and stock that never goes negative."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.catalog import Item, return_stock, take_stock
from appliance.domain.errors import CatalogError, OutOfStock
from appliance.domain.money import Money

PRICE = Money(950, "BRL")
SKU_ALPHABET = string.ascii_lowercase + string.digits + "_-"
good_skus = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(string.ascii_lowercase + string.digits),
    st.text(SKU_ALPHABET, max_size=31),
)


@given(stock=st.integers(0, 50), wanted=st.integers(1, 60))
def test_stock_never_goes_negative(stock: int, wanted: int) -> None:
    item = Item("pastel", "Pastel", PRICE, stock)
    if wanted > stock:
        with pytest.raises(OutOfStock, match=f"^pastel: {wanted} wanted, {stock} left$"):
            take_stock(item, wanted)
    else:
        taken = take_stock(item, wanted)
        assert taken.stock == stock - wanted
        assert return_stock(taken, wanted) == item
    assert item.stock == stock  # the original is untouched either way


@given(wanted=st.integers(1, 10**6))
def test_unlimited_stock_never_runs_out(wanted: int) -> None:
    item = Item("coffee", "Coffee", PRICE, None)
    assert take_stock(item, wanted) == item
    assert return_stock(item, wanted) == item


@pytest.mark.parametrize("qty", [0, -1, True, 1.5, "2"])
def test_quantities_are_positive_whole_numbers(qty: object) -> None:
    item = Item("pastel", "Pastel", PRICE, 5)
    with pytest.raises(CatalogError, match="quantity"):
        take_stock(item, qty)  # type: ignore[arg-type]
    with pytest.raises(CatalogError, match="quantity"):
        return_stock(item, qty)  # type: ignore[arg-type]


@given(sku=good_skus)
def test_every_well_formed_sku_is_accepted(sku: str) -> None:
    assert Item(sku, "Thing", PRICE).sku == sku


@given(sku=st.text(max_size=40))
def test_skus_follow_the_pattern(sku: str) -> None:
    ok = (
        1 <= len(sku) <= 32
        and sku[0] in string.ascii_lowercase + string.digits
        and all(ch in SKU_ALPHABET for ch in sku)
    )
    if ok:
        Item(sku, "Thing", PRICE)
    else:
        with pytest.raises(CatalogError, match="sku"):
            Item(sku, "Thing", PRICE)


@pytest.mark.parametrize(
    ("sku", "name", "price", "stock", "message"),
    [("Pastel", "P", PRICE, None, "sku"), ("", "P", PRICE, None, "sku"),
     ("-p", "P", PRICE, None, "sku"), ("p" * 33, "P", PRICE, None, "sku"),
     ("pão", "P", PRICE, None, "sku"), ("p", "", PRICE, None, "name"),
     ("p", "   ", PRICE, None, "name"), ("p", "x" * 61, PRICE, None, "name"),
     ("p", "P", Money(-1, "BRL"), None, "negative"), ("p", "P", 950, None, "Money"),
     ("p", "P", PRICE, -1, "stock"), ("p", "P", PRICE, 2.5, "stock"),
     ("p", "P", PRICE, True, "stock")],
)  # fmt: skip
def test_bad_items_are_refused(
    sku: str, name: str, price: Money, stock: int | None, message: str
) -> None:
    with pytest.raises(CatalogError, match=message):
        Item(sku, name, price, stock)


def test_boundaries_are_accepted() -> None:
    item = Item("a" * 32, "x" * 60, Money(0, "JPY"), 0)
    assert item.stock == 0
    with pytest.raises(OutOfStock, match="1 wanted, 0 left"):
        take_stock(item, 1)
