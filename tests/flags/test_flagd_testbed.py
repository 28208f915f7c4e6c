"""flagd's own evaluator test-bed, run against appliance.flags.

Source: open-feature/flagd-testbed at commit 82ba89e (release 3.9.0), Apache-2.0:
evaluator/flags/testkit-flags.json (the flag definitions below are copied from it verbatim) and
evaluator/gherkin/fractional.feature (the @fractional-v2 examples: context → expected value).
"""

from __future__ import annotations

from typing import Any

import pytest

from appliance.flags.evaluate import FlagSet, Reason

CARDS = [["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]]
SUITS = {
    "clubs": "clubs",
    "diamonds": "diamonds",
    "hearts": "hearts",
    "spades": "spades",
    "wild": "wild",
}
TESTKIT: dict[str, Any] = {
    "$evaluators": {"is_ballmer": {"==": ["ballmer@macrosoft.com", {"var": ["email"]}]}},
    "flags": {
        "fractional-flag": {
            "state": "ENABLED",
            "variants": SUITS,
            "defaultVariant": "wild",
            "targeting": {
                "fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "user.name"}]}, *CARDS]
            },
        },
        "fractional-flag-shorthand": {
            "state": "ENABLED",
            "variants": {"heads": "heads", "tails": "tails", "draw": "draw"},
            "defaultVariant": "draw",
            "targeting": {"fractional": [["heads"], ["tails", 1]]},
        },
        "fractional-flag-A-shared-seed": {
            "state": "ENABLED",
            "variants": SUITS,
            "defaultVariant": "wild",
            "targeting": {"fractional": [{"cat": ["shared-seed", {"var": "user.name"}]}, *CARDS]},
        },
        "fractional-hash-edge-flag": {
            "state": "ENABLED",
            "variants": {"lower": "lower", "upper": "upper"},
            "defaultVariant": "lower",
            "targeting": {"fractional": [{"var": "targetingKey"}, ["lower", 50], ["upper", 50]]},
        },
        "fractional-single-entry-flag": {
            "state": "ENABLED",
            "variants": {"single": "single", "fallback": "fallback"},
            "defaultVariant": "fallback",
            "targeting": {"fractional": [["single", 1]]},
        },
        "fractional-null-bucket-key-flag": {
            "state": "ENABLED",
            "variants": {"one": "one", "two": "two", "fallback": "fallback"},
            "defaultVariant": "fallback",
            "targeting": {"fractional": [{"var": "missing_key"}, ["one", 50], ["two", 50]]},
        },
        "fractional-zero-weights-flag": {
            "state": "ENABLED",
            "variants": {"one": "one", "two": "two", "fallback": "fallback"},
            "defaultVariant": "fallback",
            "targeting": {"fractional": [{"var": "targetingKey"}, ["one", 0], ["two", 0]]},
        },
        "fractional-as-condition-flag": {
            "state": "ENABLED",
            "variants": {"big": "hundreds", "small": "ones", "fallback": "zero"},
            "defaultVariant": "fallback",
            "targeting": {"if": [{"fractional": [[False, 0], [True, 100]]}, "big", "small"]},
        },
    },
}
FLAGS = FlagSet.from_document(TESTKIT)


def nested(name: str) -> dict[str, Any]:
    return {"user": {"name": name}}


CASES = [  # (flag, context, expected value): fractional.feature, @fractional-v2 examples
    *[("fractional-flag", nested(n), v) for n, v in
      [("jack", "hearts"), ("queen", "spades"), ("ten", "clubs"), ("nine", "diamonds"), ("3", "clubs")]],
    ("fractional-flag-shorthand", {"targetingKey": "jon@company.com"}, "heads"),
    ("fractional-flag-shorthand", {"targetingKey": "jane@company.com"}, "tails"),
    *[("fractional-flag-A-shared-seed", nested(n), v) for n, v in
      [("seven", "hearts"), ("eight", "diamonds"), ("nine", "clubs"), ("two", "spades")]],
    *[("fractional-hash-edge-flag", {"targetingKey": k}, v) for k, v in
      [("ejOoVL", "lower"), ("bY9fO-", "lower"), ("SI7p-", "lower"), ("6LvT0", "upper"), ("ceQdGm", "upper")]],
    ("fractional-single-entry-flag", {"targetingKey": "some-targeting-key"}, "single"),
    ("fractional-null-bucket-key-flag", {"targetingKey": "x"}, "fallback"),
    ("fractional-zero-weights-flag", {"targetingKey": "x"}, "fallback"),
    ("fractional-as-condition-flag", {"targetingKey": "x"}, "hundreds"),
]  # fmt: skip


@pytest.mark.parametrize(("flag", "context", "expected"), CASES)
def test_the_testbed_examples(flag: str, context: dict[str, Any], expected: str) -> None:
    assert FLAGS.evaluate(flag, context, "code-default").value == expected


def test_a_null_bucket_key_is_the_default_variant_not_an_arm() -> None:
    assert FLAGS.evaluate("fractional-null-bucket-key-flag", {}, "d").reason is Reason.DEFAULT
