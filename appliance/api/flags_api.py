"""Operator routes of the edge flags: offer a signed bundle, see the arms and what the box decided.

`PUT /api/flags` takes a signed bundle (docs/flags.md) and keeps it only if it verifies for this
box's [flags] keys and scope and is not older than the one in use; a refusal is 422 naming why,
and the last good bundle stays. `GET /api/flags` shows the bundle in force, each experiment's
arms with their figures and state, and the canary judge's latest decisions. Delivery through
sync from the cloud is the next step; until then a console or a script offers the bundle here.
Registered by one line in operator.routes().
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.operator import json_response, node_of, operator
from appliance.api.schemas import Problem
from appliance.flags.errors import BundleRefused
from appliance.services.flags import EdgeFlags
from appliance.store import flags as flags_sql


class FlagBundleIn(msgspec.Struct, frozen=True):
    """A signed bundle's wire form (docs/flags.md "Bundles")."""

    payload: str
    kid: str
    sig: str


class BundleOut(msgspec.Struct, frozen=True):
    id: str  # sha256 of the wire form, hex
    scope: str
    issued_at: int
    expires_at: int
    accepted_at: float
    flags: list[str]


class ArmOut(msgspec.Struct, frozen=True):
    flag: str
    variant: str
    control: bool  # the default variant, which the canaries are judged against
    state: str  # "control", "measuring", "off" or "pass"
    reason: str
    views: int
    paid: int
    latency_p95_ms: float | None
    latency_samples: int


class FlagDecisionOut(msgspec.Struct, frozen=True):
    at: str
    bundle: str
    flag: str
    variant: str
    verdict: str
    reason: str
    figures: str  # JSON: both arms' figures when the judge decided


class FlagsOut(msgspec.Struct, frozen=True):
    scope: str  # "" when the box has no [flags] table (every flag's default)
    bundle: BundleOut | None
    arms: list[ArmOut]
    decisions: list[FlagDecisionOut]


def arms_of(flags: EdgeFlags) -> list[ArmOut]:
    """Every experiment's arms, control first, with their figures and the judge's state."""
    bundle = flags.bundle
    shown: list[ArmOut] = []
    for key in bundle.flags.keys() if bundle else []:
        arms = bundle.flags.arms(key) if bundle else None
        if arms is None:
            continue
        control, canaries = arms
        for variant in (control, *canaries):
            figures = flags.figures(key, variant)
            decided = flags.done.get((key, variant))
            if variant == control:
                state, reason = "control", ""
            elif decided is None:
                state, reason = "measuring", ""
            else:
                state, reason = decided.verdict, decided.reason
            shown.append(
                ArmOut(
                    key,
                    variant,
                    variant == control,
                    state,
                    reason,
                    figures.views,
                    figures.paid,
                    figures.latency_p95_ms,
                    figures.latency_samples,
                )
            )
    return shown


def flags_out(flags: EdgeFlags, decisions: list[flags_sql.FlagDecision]) -> FlagsOut:
    """The GET /api/flags answer."""
    bundle = flags.bundle
    info = None
    if bundle is not None:
        info = BundleOut(
            flags.bundle_id, bundle.scope, bundle.issued_at, bundle.expires_at,
            flags.accepted_at, bundle.flags.keys(),
        )  # fmt: skip
    shown = [
        FlagDecisionOut(d.at, d.bundle, d.flag, d.variant, d.verdict, d.reason, d.figures)
        for d in decisions
    ]
    return FlagsOut(flags.settings.scope, info, arms_of(flags), shown)


@operator
async def get_flags(request: Request) -> Response:
    """The bundle in force, each experiment's arms with their figures, the latest decisions."""
    node = node_of(request)
    decisions = await node.box.writer.read(lambda conn: flags_sql.recent_decisions(conn, 50))
    return json_response(flags_out(node.flags, decisions))


@operator
async def put_flags(request: Request) -> Response:
    """Offer a signed bundle: kept if it verifies (422 naming why if not; the last good stays)."""
    node = node_of(request)
    raw = await request.body()
    try:
        await node.flags.offer(raw)
    except BundleRefused as exc:
        return json_response(Problem(f"bundle refused: {exc}", "bundle"), 422)
    node.events.publish("flags", {"bundle": node.flags.bundle_id})
    decisions = await node.box.writer.read(lambda conn: flags_sql.recent_decisions(conn, 50))
    return json_response(flags_out(node.flags, decisions))


def routes() -> list[BaseRoute]:
    """The flag routes."""
    return [
        Route("/api/flags", get_flags),
        Route("/api/flags", put_flags, methods=["PUT"]),
    ]


TYPES = (FlagBundleIn, FlagsOut)  # in the OpenAPI document's components (api/openapi.py)
