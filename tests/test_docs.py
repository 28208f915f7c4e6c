"""Docs generated from code stay current."""

from __future__ import annotations

from pathlib import Path

from appliance.api.openapi import markdown

REPO = Path(__file__).resolve().parents[1]


def test_api_md_matches_the_code() -> None:
    """Regenerate with: python -m appliance.api.openapi --markdown > docs/api.md"""
    assert (REPO / "docs" / "api.md").read_text(encoding="utf-8") == markdown()


def test_every_phrase_key_is_safe_in_jinja() -> None:
    """`t.copy` would find dict.copy before the phrase: keys must not shadow dict methods."""
    from appliance.api.locale import PHRASES

    for table in PHRASES.values():
        assert not set(table) & set(dir(dict)), set(table) & set(dir(dict))
        assert set(table) == set(PHRASES["en"])
