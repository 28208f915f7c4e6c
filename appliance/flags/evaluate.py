"""flagd flag definitions, loaded once and evaluated per visitor.

Semantics follow flagd's (https://flagd.dev/reference/flag-definitions/): a disabled flag or a
targeting rule that returns null gives the default variant; a rule returning a variant's name
(or a boolean, for variants named "true"/"false") picks it; a name that is no variant is an
error and falls back to the default variant — failing closed, never to a canary arm.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from appliance.flags.errors import DefinitionError
from appliance.flags.logic import FLAG_KEY, Rule, compile_rule

MAX_FLAGS = 200


class Reason(StrEnum):
    """Why a flag resolved as it did (OpenFeature's resolution reasons)."""

    STATIC = "STATIC"
    TARGETING_MATCH = "TARGETING_MATCH"
    DEFAULT = "DEFAULT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class Resolution:
    """A flag's value for one visitor, with the variant's name and the reason."""

    value: Any
    variant: str | None
    reason: Reason


@dataclass(frozen=True, slots=True)
class Flag:
    """One compiled flag."""

    key: str
    enabled: bool
    variants: Mapping[str, Any]
    default_variant: str | None
    targeting: Rule | None
    split: bool = False  # its targeting holds a `fractional` (OpenFeature reason SPLIT)


def _resolve_refs(rule: Any, evaluators: Mapping[str, Any], depth: int = 0) -> Any:
    if depth > 16:
        raise DefinitionError("$ref nests too deep (a loop?)")
    if isinstance(rule, dict):
        if set(rule) == {"$ref"}:
            name = rule["$ref"]
            if name not in evaluators:
                raise DefinitionError(f"$ref {name!r} names no entry of $evaluators")
            return _resolve_refs(evaluators[name], evaluators, depth + 1)
        return {k: _resolve_refs(v, evaluators, depth + 1) for k, v in rule.items()}
    if isinstance(rule, list):
        return [_resolve_refs(v, evaluators, depth + 1) for v in rule]
    return rule


def _flag(key: str, raw: Any, evaluators: Mapping[str, Any]) -> Flag:
    if not isinstance(raw, dict):
        raise DefinitionError(f"flag {key!r} is not an object")
    state, variants, default = raw.get("state"), raw.get("variants"), raw.get("defaultVariant")
    if state not in ("ENABLED", "DISABLED"):
        raise DefinitionError(f"flag {key!r}: state must be ENABLED or DISABLED")
    if not isinstance(variants, dict) or not variants:
        raise DefinitionError(f"flag {key!r}: variants must be a non-empty object")
    if default is not None and default not in variants:
        raise DefinitionError(
            f"flag {key!r}: defaultVariant {default!r} is not one of its variants"
        )
    targeting = raw.get("targeting")
    try:
        resolved = _resolve_refs(targeting, evaluators) if targeting else None
        rule = compile_rule(resolved) if targeting else None
    except DefinitionError as exc:
        raise DefinitionError(f"flag {key!r}: targeting: {exc}") from None
    split = '"fractional"' in json.dumps(resolved)
    return Flag(key, state == "ENABLED", dict(variants), default, rule, split)


class FlagSet:
    """A verified set of flags, compiled; evaluation never raises."""

    def __init__(self, flags: Mapping[str, Flag]) -> None:
        self._flags = dict(flags)

    @classmethod
    def from_document(cls, document: Any) -> FlagSet:
        """Compile a flagd document ({"flags": {...}, "$evaluators": {...}}); raise DefinitionError."""
        if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
            raise DefinitionError('a flag document is an object with a "flags" object')
        evaluators = document.get("$evaluators", {})
        if not isinstance(evaluators, dict):
            raise DefinitionError("$evaluators must be an object")
        if len(document["flags"]) > MAX_FLAGS:
            raise DefinitionError(f"at most {MAX_FLAGS} flags")
        return cls({key: _flag(key, raw, evaluators) for key, raw in document["flags"].items()})

    @classmethod
    def empty(cls) -> FlagSet:
        """No definitions: every flag resolves to the caller's default."""
        return cls({})

    def __contains__(self, key: object) -> bool:
        return key in self._flags

    def splits(self, key: str) -> bool:
        """Whether flag `key` splits visitors by a `fractional` rule."""
        flag = self._flags.get(key)
        return flag is not None and flag.split

    def keys(self) -> list[str]:
        """The flag keys, sorted."""
        return sorted(self._flags)

    def arms(self, key: str) -> tuple[str, tuple[str, ...]] | None:
        """An experiment's control (the default variant) and canary arms; None if it is none."""
        flag = self._flags.get(key)
        if flag is None or not flag.enabled or flag.targeting is None:
            return None
        if flag.default_variant is None or len(flag.variants) < 2:
            return None
        return flag.default_variant, tuple(v for v in flag.variants if v != flag.default_variant)

    def fallback(self, key: str, default: Any) -> Resolution:
        """The flag's default variant, as when an arm is switched off (reason DISABLED)."""
        flag = self._flags.get(key)
        if flag is None or flag.default_variant is None:
            return Resolution(default, None, Reason.DISABLED)
        return Resolution(
            flag.variants[flag.default_variant], flag.default_variant, Reason.DISABLED
        )

    def evaluate(self, key: str, context: Mapping[str, Any], default: Any) -> Resolution:
        """Resolve flag `key` for a visitor's context (targetingKey = the node's visitor id)."""
        flag = self._flags.get(key)
        if flag is None:
            return Resolution(default, None, Reason.ERROR)
        fallback = flag.default_variant
        fallback_value = default if fallback is None else flag.variants[fallback]
        if not flag.enabled:
            return Resolution(fallback_value, fallback, Reason.DISABLED)
        if flag.targeting is None:
            return Resolution(fallback_value, fallback, Reason.STATIC)
        ctx = dict(context)
        ctx[FLAG_KEY] = key
        try:
            chosen = flag.targeting(ctx)
        except (ArithmeticError, LookupError, TypeError, ValueError):
            return Resolution(fallback_value, fallback, Reason.ERROR)
        if chosen is None:
            return Resolution(fallback_value, fallback, Reason.DEFAULT)
        if isinstance(chosen, bool):
            chosen = "true" if chosen else "false"
        if not isinstance(chosen, str) or chosen not in flag.variants:
            return Resolution(fallback_value, fallback, Reason.ERROR)
        return Resolution(flag.variants[chosen], chosen, Reason.TARGETING_MATCH)
