"""appliance.flags: targeting, fail-closed defaults, the split's fairness, signed bundles."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from bundles import upsell
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.flags.bundle import LastGood, sign_bundle, verify_bundle
from appliance.flags.errors import BundleRefused, DefinitionError
from appliance.flags.evaluate import FlagSet, Reason
from appliance.flags.logic import FLAG_KEY, compile_rule

UPSELL: dict[str, Any] = upsell({
    "menu-order": {
        "state": "ENABLED",
        "variants": {"popular": "popular", "catalogue": "catalogue"},
        "defaultVariant": "catalogue",
        "targeting": {"if": [{"in": [{"var": "lang"}, ["pt", "es"]]}, "popular", None]},
    },
    "off": {"state": "DISABLED", "variants": {"a": 1, "b": 2}, "defaultVariant": "a"},
    "broken-arm": {
        "state": "ENABLED",
        "variants": {"a": 1},
        "defaultVariant": "a",
        "targeting": {"var": "pick"},
    },
})  # fmt: skip
FLAGS = FlagSet.from_document(UPSELL)


def test_targeting_picks_and_falls_back_to_the_default_variant() -> None:
    assert FLAGS.evaluate("menu-order", {"lang": "pt"}, None).variant == "popular"
    assert FLAGS.evaluate("menu-order", {"lang": "th"}, None).reason is Reason.DEFAULT
    assert FLAGS.evaluate("off", {}, None).reason is Reason.DISABLED
    missing = FLAGS.evaluate("no-such-flag", {}, "code default")
    assert (missing.value, missing.reason) == ("code default", Reason.ERROR)
    wrong = FLAGS.evaluate("broken-arm", {"pick": "b"}, None)  # names no variant: fail closed
    assert (wrong.variant, wrong.reason) == ("a", Reason.ERROR)


def test_a_visitor_stays_in_its_arm_and_the_split_is_within_one_percent_of_its_weights() -> None:
    visitors = [str(uuid.UUID(int=i, version=4)) for i in range(100_000)]
    arms = [FLAGS.evaluate("cart-upsell", {"targetingKey": v}, None).variant for v in visitors]
    assert abs(arms.count("pastel") / len(arms) - 0.5) < 0.01
    assert [
        FLAGS.evaluate("cart-upsell", {"targetingKey": v}, None).variant for v in visitors[:100]
    ] == arms[:100]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ({"state": "ON", "variants": {"a": 1}}, "state must be ENABLED or DISABLED"),
        ({"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "b"}, "defaultVariant 'b'"),
        (
            {"state": "ENABLED", "variants": {"a": 1}, "targeting": {"sem_ver": [1]}},
            "'sem_ver' is not supported",
        ),
        (
            {"state": "ENABLED", "variants": {"a": 1}, "targeting": {"$ref": "nope"}},
            "names no entry",
        ),
    ],
)
def test_a_bad_definition_is_refused_at_load_naming_flag_and_field(
    flag: dict[str, Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        FlagSet.from_document({"flags": {"f": flag}})


KEY = Ed25519PrivateKey.generate()
KEYS = {"creator-1": KEY.public_key()}


def test_a_tampered_expired_foreign_or_older_bundle_is_refused_and_the_last_good_kept() -> None:
    box = LastGood(KEYS, "creator-1/market")
    good = sign_bundle(KEY, "creator-1", "creator-1/market", (1000, 5000), UPSELL)
    box.offer(good, now=2000)
    envelope = json.loads(good)
    envelope["payload"] = (
        envelope["payload"][:-2] + ("A" if envelope["payload"][-2] != "A" else "B") + "A"
    )
    refusals = {
        "tampered": json.dumps(envelope).encode(),
        "expired": sign_bundle(KEY, "creator-1", "creator-1/market", (1000, 1500), UPSELL),
        "unknown key": sign_bundle(
            Ed25519PrivateKey.generate(), "creator-1", "creator-1/market", (1000, 5000), UPSELL
        ),
        "other scope": sign_bundle(KEY, "creator-1", "creator-2/market", (1000, 5000), UPSELL),
        "older": sign_bundle(KEY, "creator-1", "creator-1/market", (900, 5000), UPSELL),
        "garbage": b"\xff{",
    }
    for name, wire in refusals.items():
        with pytest.raises(BundleRefused):
            box.offer(wire, now=2000)
        assert box.current is not None and box.current.issued_at == 1000, name
    assert box.flags.evaluate("menu-order", {"lang": "es"}, None).variant == "popular"


def test_no_bundle_means_every_default() -> None:
    box = LastGood(KEYS, "creator-1/market")
    assert box.flags.evaluate("cart-upsell", {"targetingKey": "v"}, "none").value == "none"
    with pytest.raises(BundleRefused, match="flags: flag 'f'"):
        verify_bundle(
            sign_bundle(KEY, "creator-1", "s", (0, 10), {"flags": {"f": {}}}), KEYS, "s", 5
        )


def test_fixed_buckets_split_exactly_as_computed_ones() -> None:
    """Literal names and weights take a precompiled path; it must bucket as the general one."""
    fixed = compile_rule({"fractional": [["a", 30], ["b", 0], ["c", 70], ["d", -5]]})
    computed = compile_rule(
        {
            "fractional": [
                [{"cat": ["", "a"]}, 30],
                ["b", {"if": [True, 0, 1]}],
                ["c", 70],
                ["d", -5],
            ]
        }
    )
    seen = set()
    for n in range(3000):
        context = {"targetingKey": f"v{n}", FLAG_KEY: "menu-order"}
        got = fixed(context)
        assert got == computed(context), n
        seen.add(got)
    assert seen == {"a", "c"}
