"""Visitor ids: the node's own verify, anything else (forged, rotated, garbled) does not."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.api.visitors import Visitors
from appliance.ledger.identity import DeviceKey


def test_issued_ids_verify_and_are_unique() -> None:
    visitors = Visitors(b"k" * 32)
    ids = {visitors.issue() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(visitors.verify(v) == v for v in ids)


def test_forged_rotated_and_garbled_cookies_are_ignored() -> None:
    visitors, other = Visitors(b"k" * 32), Visitors(b"q" * 32)
    real = visitors.issue()
    visitor, _, mac = real.rpartition(".")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    for cookie in (None, "", "phone00001", f"{visitor}.{flipped}", f"{visitor}x.{mac}",
                   other.issue(), real + "0", "é" * 10 + "." + mac, "x" * 65, "." + mac):  # fmt: skip
        assert visitors.verify(cookie) is None, cookie


def test_a_client_is_named_by_a_keyed_hash_of_its_address() -> None:
    key = DeviceKey.from_private(Ed25519PrivateKey.generate())
    visitors, again = Visitors.for_device(key), Visitors.for_device(key)
    assert visitors.client("10.0.0.7") == again.client("10.0.0.7")  # stable across restarts
    assert visitors.client("10.0.0.7") != visitors.client("10.0.0.8")
    assert "10.0.0.7" not in visitors.client("10.0.0.7")
    other = Visitors.for_device(DeviceKey.from_private(Ed25519PrivateKey.generate()))
    assert other.client("10.0.0.7") != visitors.client("10.0.0.7")
    assert other.verify(visitors.issue()) is None  # another box's ids mean nothing here
