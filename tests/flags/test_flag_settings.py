"""The [flags] table: trusted keys and the judge's settings, every error naming its key."""

from __future__ import annotations

import pytest

from appliance.config import parse_config
from appliance.errors import ConfigError

KEY = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"  # RFC 8032 test 1's public key, base64url


def test_no_table_means_no_keys_and_the_documented_judge() -> None:
    flags = parse_config("").flags
    assert (flags.scope, dict(flags.keys), flags.judge_interval_s) == ("", {}, 5.0)
    assert flags.objective.latency_p95_ms == 300.0 and flags.objective.min_views == 100
    table = parse_config(f'[flags]\nscope = "ana/fair"\nkeys = {{ k1 = "{KEY}" }}\n').flags
    assert list(table.keys) == ["k1"] and table.upsell_flag == "cart-upsell"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('scope = "a/b"\nkeys = { k1 = "nope" }', "flags.keys.k1: not an Ed25519 public key"),
        ('scope = ""\nkeys = { k1 = "KEY" }', "flags.scope: must name the creator/event"),
        ('scope = "a/b"\nkeys = {}', "flags.keys: give at least one trusted key"),
        ('scope = "a/b"\nkeys = { k1 = "KEY" }\njudge_interval_s = 0', "flags.judge_interval_s"),
        ('scope = "a/b"\nkeys = { k1 = "KEY" }\nmin_views = 0', "flags.min_views: 0: must be"),
        # the bounds as an operator writes them, not 2.592e+06 (docs/configuration.md's table)
        (
            'scope = "a/b"\nkeys = { k1 = "KEY" }\ndeadline_s = 0',
            "deadline_s: 0.0: must be 0.1-2592000",
        ),
        (
            'scope = "a/b"\nkeys = { k1 = "KEY" }\nalpha = 0.9',
            "flags.alpha: 0.9: must be 0.0001-0.5",
        ),
        ('scope = "a/b"\nkeys = { k1 = "KEY" }\nmargn = 0.1', "flags.margn: unknown key"),
        ('keys = { k1 = "KEY" }', "flags.scope: missing"),
    ],
)
def test_each_problem_names_its_key(table: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config("[flags]\n" + table.replace("KEY", KEY) + "\n")
    assert message in str(error.value)
