"""Flags through the OpenFeature SDK (issue 20): our in-process provider over FlagSet gives each
type's details with the variant and OpenFeature's reasons and error codes, and a node's client
uses its own provider, never the SDK's global registry (two nodes in one process stay apart).

Reasons and error codes: the OpenFeature specification, section 2.7 and appendix
(https://openfeature.dev/specification/types#resolution-reason, #error-code)."""

from __future__ import annotations

from typing import Any

from bundles import upsell
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from appliance.flags.evaluate import FlagSet
from appliance.flags.provider import FlagSetProvider, NodeClient

DOCUMENT: dict[str, Any] = upsell({
    "menu-order": {
        "state": "ENABLED",
        "variants": {"catalog": "catalog", "popular": "popular"},
        "defaultVariant": "catalog",
        "targeting": {"if": [{"==": [{"var": "lang"}, "pt"]}, "popular", None]},
    },
    "new-look": {"state": "ENABLED", "variants": {"on": True, "off": False},
                 "defaultVariant": "on"},
    "limit": {"state": "ENABLED", "variants": {"two": 2}, "defaultVariant": "two"},
    "off": {"state": "DISABLED", "variants": {"a": "a", "b": "b"}, "defaultVariant": "a"},
    "broken": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a",
               "targeting": {"var": "pick"}},
})  # fmt: skip


def client_for(document: dict[str, Any]) -> NodeClient:
    flags = FlagSet.from_document(document)
    return NodeClient(FlagSetProvider(lambda: flags))


def test_every_type_with_its_variant_and_reason() -> None:
    client = client_for(DOCUMENT)
    seen = set()
    for n in range(40):
        got = client.get_object_details("cart-upsell", {}, EvaluationContext(f"visitor-{n}"))
        assert got.reason == Reason.SPLIT and got.error_code is None
        # a null variant (control) is the caller's default, with its name: its arm still counts
        assert got.value == ({} if got.variant == "control" else {"sku": "pastel", "price": 500})
        seen.add(got.variant)
    assert seen == {"control", "pastel"}
    pt = client.get_string_details("menu-order", "x", EvaluationContext("v", {"lang": "pt"}))
    assert (pt.value, pt.variant, pt.reason) == ("popular", "popular", Reason.TARGETING_MATCH)
    th = client.get_string_details("menu-order", "x", EvaluationContext("v", {"lang": "th"}))
    assert (th.value, th.variant, th.reason) == ("catalog", "catalog", Reason.DEFAULT)
    assert client.get_boolean_details("new-look", False).reason == Reason.STATIC
    assert client.get_boolean_value("new-look", False) is True
    assert client.get_integer_value("limit", 0) == 2
    assert client.get_float_value("limit", 0.5) == 2.0
    off = client.get_string_details("off", "code")
    assert (off.value, off.variant, off.reason) == ("a", "a", Reason.DISABLED)


def test_errors_give_the_callers_default_with_openfeatures_error_code() -> None:
    client = client_for(DOCUMENT)
    missing = client.get_string_details("no-such-flag", "code default")
    assert (missing.value, missing.reason) == ("code default", Reason.ERROR)
    assert missing.error_code == ErrorCode.FLAG_NOT_FOUND and missing.variant is None
    broken = client.get_string_details("broken", "code", EvaluationContext("v", {"pick": "zz"}))
    assert (broken.value, broken.error_code) == ("code", ErrorCode.PARSE_ERROR)
    wrong = client.get_integer_details("menu-order", 7, EvaluationContext("v"))
    assert (wrong.value, wrong.error_code) == (7, ErrorCode.TYPE_MISMATCH)
    not_bool = client.get_boolean_details("limit", False)  # 2 is no boolean, True no integer
    assert not_bool.error_code == ErrorCode.TYPE_MISMATCH
    assert client.get_integer_details("new-look", 0).error_code == ErrorCode.TYPE_MISMATCH


def test_each_client_has_its_own_provider_and_the_global_registry_is_untouched() -> None:
    first = client_for(DOCUMENT)
    second = client_for({"flags": {}})
    assert first.get_string_value("menu-order", "x", EvaluationContext("v")) == "catalog"
    assert second.get_string_value("menu-order", "x", EvaluationContext("v")) == "x"
    assert api.get_provider_metadata().name == "No-op Provider"  # nothing was registered
    assert api.get_provider_metadata(first.domain).name == "No-op Provider"
    unbound = api.get_client(first.domain)  # the SDK's own client for that domain: no flags
    assert unbound.get_string_value("menu-order", "x", EvaluationContext("v")) == "x"


def test_the_bundle_in_force_is_read_at_each_evaluation() -> None:
    now: list[FlagSet] = [FlagSet.empty()]
    client = NodeClient(FlagSetProvider(lambda: now[0]))
    assert client.get_string_value("menu-order", "x", EvaluationContext("v")) == "x"
    now[0] = FlagSet.from_document(DOCUMENT)
    assert client.get_string_value("menu-order", "x", EvaluationContext("v")) == "catalog"
