"""OpenFeature on the box: an in-process provider over FlagSet, and a client bound to it alone.

Evaluation goes through the OpenFeature Python SDK (`openfeature-sdk`): handlers ask an
`OpenFeatureClient` for a flag's details, and the SDK asks this provider, which resolves from the
bundle in force (a callable, so a new bundle is seen at once). Reasons are OpenFeature's:
`TARGETING_MATCH`, `SPLIT` (a `fractional` rule chose), `STATIC`, `DEFAULT`, `DISABLED`, and
`ERROR` with `FLAG_NOT_FOUND`, `PARSE_ERROR` (a rule that named no variant or failed) or
`TYPE_MISMATCH`.

The SDK's `api` module is global (one provider registry, global hooks and context per process);
two nodes in one process (tests) must not see each other's flags. So no provider is registered
with it: `NodeClient` is an `OpenFeatureClient` whose provider is its own (the registry is never
consulted) and always READY. Global hooks and the global evaluation context still apply, as the
SDK's contract says; stallbox sets none.

A variant whose value is null (flagd's "control: null") resolves to the caller's default value,
keeping its variant name and reason: OpenFeature has no null object, and the arm still counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, FeatureProvider, ProviderStatus
from openfeature.provider.metadata import Metadata

from appliance.flags.evaluate import FlagSet, Reason

NAME = "stallbox-flagset"
_REASONS = {
    Reason.STATIC: OFReason.STATIC,
    Reason.TARGETING_MATCH: OFReason.TARGETING_MATCH,
    Reason.DEFAULT: OFReason.DEFAULT,
    Reason.DISABLED: OFReason.DISABLED,
    Reason.ERROR: OFReason.ERROR,
}
_TYPES: Mapping[type, tuple[type, ...]] = {
    bool: (bool,),
    str: (str,),
    int: (int,),
    float: (float, int),
    dict: (dict, list),
}


def context_of(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """The flagd context of an OpenFeature one: its attributes plus `targetingKey`."""
    if evaluation_context is None:
        return {}
    context = dict(evaluation_context.attributes)
    if evaluation_context.targeting_key is not None:
        context["targetingKey"] = evaluation_context.targeting_key
    return context


class FlagSetProvider(AbstractProvider):
    """An OpenFeature provider that resolves from the flag set `current()` returns."""

    def __init__(self, current: Callable[[], FlagSet]) -> None:
        super().__init__()
        self._current = current

    def get_metadata(self) -> Metadata:
        """The provider's name."""
        return Metadata(name=NAME)

    def resolve(self, key: str, default: Any, context: Mapping[str, Any], kind: type) -> Any:
        """Resolve `key` as a value of `kind` (bool, str, int, float, dict for objects)."""
        flags = self._current()
        got = flags.evaluate(key, context, default)
        if got.reason is Reason.ERROR:
            return FlagResolutionDetails(
                default, *_error(flags, key), reason=OFReason.ERROR, variant=None
            )
        value = default if got.value is None else got.value
        if kind is bool and isinstance(value, bool):
            pass
        elif not isinstance(value, _TYPES[kind]) or (kind is not bool and isinstance(value, bool)):
            message = f"flag {key!r} variant {got.variant!r} is not a {kind.__name__}"
            return FlagResolutionDetails(
                default, ErrorCode.TYPE_MISMATCH, message, OFReason.ERROR, None
            )
        if kind is float:
            value = float(value)
        reason = _REASONS[got.reason]
        if reason is OFReason.TARGETING_MATCH and flags.splits(key):
            reason = OFReason.SPLIT
        return FlagResolutionDetails(value, reason=reason, variant=got.variant)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        """A boolean flag's details."""
        return self.resolve(flag_key, default_value, context_of(evaluation_context), bool)  # type: ignore[no-any-return]

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        """A string flag's details."""
        return self.resolve(flag_key, default_value, context_of(evaluation_context), str)  # type: ignore[no-any-return]

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        """An integer flag's details."""
        return self.resolve(flag_key, default_value, context_of(evaluation_context), int)  # type: ignore[no-any-return]

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        """A float flag's details (an integer variant is taken as a float)."""
        return self.resolve(flag_key, default_value, context_of(evaluation_context), float)  # type: ignore[no-any-return]

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        """An object (JSON object or array) flag's details; a null variant gives the default."""
        return self.resolve(flag_key, default_value, context_of(evaluation_context), dict)  # type: ignore[no-any-return]


def _error(flags: FlagSet, key: str) -> tuple[ErrorCode, str]:
    if key not in flags:
        return ErrorCode.FLAG_NOT_FOUND, f"no flag {key!r} in the bundle in force"
    return ErrorCode.PARSE_ERROR, f"flag {key!r}: its targeting named no variant"


class NodeClient(OpenFeatureClient):
    """An OpenFeature client bound to one provider, outside the SDK's global registry."""

    def __init__(self, provider: FeatureProvider, domain: str = "stallbox-node") -> None:
        super().__init__(domain=domain, version=None)
        self._own = provider

    @property
    def provider(self) -> FeatureProvider:
        """This client's own provider (never the registry's)."""
        return self._own

    def get_provider_status(self) -> ProviderStatus:
        """Always READY: the provider resolves from memory and needs no start."""
        return ProviderStatus.READY
