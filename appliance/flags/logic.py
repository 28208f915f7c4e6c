"""A JsonLogic subset (https://jsonlogic.com/operations.html) plus flagd's `fractional`, compiled.

Each rule is compiled once, when a bundle is loaded, into nested Python closures; evaluating a
flag then costs a few function calls, not a walk over JSON. Unknown operators are refused at
compile time, so a bad rule is a load error, never a surprise at an attendee's request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import mmh3

from appliance.flags.errors import DefinitionError

Context = Mapping[str, Any]
Rule = Callable[[Context], Any]
FLAG_KEY = "$flagd.flagKey"


def _var(path: str, default: Any = None) -> Rule:
    if path == FLAG_KEY:
        return lambda ctx: ctx.get(FLAG_KEY, default)
    parts = path.split(".") if path else []

    def read(ctx: Context) -> Any:
        value: Any = ctx
        for part in parts:
            if not isinstance(value, Mapping) or part not in value:
                return default
            value = value[part]
        return value

    return read


def _truthy(value: Any) -> bool:
    """JsonLogic truthiness, which is Python's: 0, "", [], null and false are false ("0" is true)."""
    return bool(value)


def _fractional(args: list[Any]) -> Rule:
    """flagd's fractional (v2 bucketing: murmur3_x86_32 seed 0, (hash * total weight) >> 32)."""
    explicit = bool(args) and not isinstance(args[0], list)
    key_rule = compile_rule(args[0]) if explicit else None
    buckets: list[tuple[Rule, Rule]] = []
    for raw in args[1:] if explicit else args:
        if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
            raise DefinitionError("fractional: each bucket is [variant] or [variant, weight]")
        buckets.append(
            (compile_rule(raw[0]), compile_rule(raw[1]) if len(raw) == 2 else (lambda ctx: 1))
        )

    constant = _constant_buckets(args[1:] if explicit else args)
    if constant is not None and key_rule is None:  # the common case: fixed names and weights
        names, bounds, total = constant

        def pick_fixed(ctx: Context) -> Any:
            key = f"{ctx.get(FLAG_KEY, '')}{ctx.get('targetingKey', '')}"
            point = (mmh3.hash(key, 0, signed=False) * total) >> 32
            for name, bound in zip(names, bounds, strict=True):
                if point < bound:
                    return name
            return None

        return pick_fixed

    def pick(ctx: Context) -> Any:
        if key_rule is None:
            key = f"{ctx.get(FLAG_KEY, '')}{ctx.get('targetingKey', '')}"
        else:
            key = key_rule(ctx)
            if not isinstance(key, str):
                return None
        chosen = [(variant(ctx), weight(ctx)) for variant, weight in buckets]
        weights = [
            w if isinstance(w, int) and not isinstance(w, bool) and w > 0 else 0 for _v, w in chosen
        ]
        total = sum(weights)
        if total == 0:
            return None
        point = (mmh3.hash(key, 0, signed=False) * total) >> 32
        for (value, _w), weight in zip(chosen, weights, strict=True):
            if point < weight:
                return value
            point -= weight
        return None

    return pick


def _constant_buckets(raw: list[Any]) -> tuple[list[str], list[int], int] | None:
    """Names and cumulative weights when every bucket is a literal name and weight, else None."""
    names: list[str] = []
    bounds: list[int] = []
    total = 0
    for bucket in raw:
        name, weight = bucket[0], bucket[1] if len(bucket) == 2 else 1
        if not isinstance(name, str) or isinstance(weight, bool) or not isinstance(weight, int):
            return None
        total += max(weight, 0)
        names.append(name)
        bounds.append(total)
    return (names, bounds, total) if total > 0 else None


def _compare(name: str, args: list[Rule]) -> Rule:
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b,
        "===": lambda a, b: a == b and type(a) is type(b),
        "!=": lambda a, b: a != b,
        "!==": lambda a, b: not (a == b and type(a) is type(b)),
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    op = ops[name]
    if len(args) == 3 and name in ("<", "<="):  # between: {"<": [1, x, 3]}
        low, mid, high = args
        return lambda ctx: _safe(op, low(ctx), mid(ctx)) and _safe(op, mid(ctx), high(ctx))
    if len(args) != 2:
        raise DefinitionError(f"{name!r} takes two arguments")
    left, right = args
    return lambda ctx: _safe(op, left(ctx), right(ctx))


def _safe(op: Callable[[Any, Any], bool], a: Any, b: Any) -> bool:
    try:
        return op(a, b)
    except TypeError:  # "3" < 4: no order between them, so the comparison is false
        return False


def _if(args: list[Rule]) -> Rule:
    def choose(ctx: Context) -> Any:
        for i in range(0, len(args) - 1, 2):
            if _truthy(args[i](ctx)):
                return args[i + 1](ctx)
        return args[-1](ctx) if len(args) % 2 else None

    return choose


def _in(args: list[Rule]) -> Rule:
    needle, haystack = args

    def contains(ctx: Context) -> bool:
        found, within = needle(ctx), haystack(ctx)
        return (
            isinstance(within, str | list)
            and isinstance(found, str | int | float)
            and found in within
        )

    return contains


def _string(name: str, args: list[Rule]) -> Rule:
    text, part = args
    test = str.startswith if name == "starts_with" else str.endswith

    def check(ctx: Context) -> bool:
        value, affix = text(ctx), part(ctx)
        return isinstance(value, str) and isinstance(affix, str) and test(value, affix)

    return check


def compile_rule(rule: Any) -> Rule:
    """Compile a JsonLogic rule to a function of the evaluation context; raise DefinitionError."""
    if not isinstance(rule, dict):
        if isinstance(rule, list):
            items = [compile_rule(item) for item in rule]
            return lambda ctx: [item(ctx) for item in items]
        return lambda ctx: rule
    if len(rule) != 1:
        raise DefinitionError(f"a JsonLogic rule has exactly one operator, not {sorted(rule)}")
    ((name, raw),) = rule.items()
    if name == "var":
        path, *default = raw if isinstance(raw, list) else [raw]
        return _var(str(path), default[0] if default else None)
    if name == "fractional":
        return _fractional(raw if isinstance(raw, list) else [raw])
    args = [compile_rule(item) for item in (raw if isinstance(raw, list) else [raw])]
    if name in ("==", "===", "!=", "!==", "<", "<=", ">", ">="):
        return _compare(name, args)
    if name == "if" or name == "?:":
        return _if(args)
    if name == "and":
        return lambda ctx: all(_truthy(a(ctx)) for a in args)
    if name == "or":
        return lambda ctx: any(_truthy(a(ctx)) for a in args)
    if name == "!":
        return lambda ctx: not _truthy(args[0](ctx))
    if name == "!!":
        return lambda ctx: _truthy(args[0](ctx))
    if name == "in" and len(args) == 2:
        return _in(args)
    if name in ("starts_with", "ends_with") and len(args) == 2:
        return _string(name, args)
    if name == "cat":
        return lambda ctx: "".join("" if (v := a(ctx)) is None else str(v) for a in args)
    raise DefinitionError(f"JsonLogic operator {name!r} is not supported (docs/flags.md)")
