"""Wire types of the flag routes that the sync daemon and the cloud share (docs/sync-protocol.md).

`GET /v1/devices/{device}/flags` answers with a signed bundle's wire form as it is
(appliance/flags/bundle.py), so only the decisions going up need a type here.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_DECISIONS = 500  # per POST
MAX_DECISIONS_BYTES = 512 * 1024
Text = Annotated[str, msgspec.Meta(max_length=200)]
Figures = Annotated[str, msgspec.Meta(max_length=4000)]


class WireDecision(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One canary decision a box took (appliance/flags/canary.py FlagDecision, as stored)."""

    at: Text
    bundle: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    flag: Text
    variant: Text
    verdict: Annotated[str, msgspec.Meta(pattern="^(off|pass)$")]
    reason: Annotated[str, msgspec.Meta(max_length=1000)]
    figures: Figures  # JSON of both arms' figures when it was taken


class DecisionBatch(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Decisions going up, oldest first."""

    v: int
    decisions: Annotated[list[WireDecision], msgspec.Meta(max_length=MAX_DECISIONS)]


class DecisionsStored(msgspec.Struct, frozen=True):
    """How many decisions the cloud holds from this POST (repeats included)."""

    stored: int
