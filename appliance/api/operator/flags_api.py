"""Operator routes of the edge flags: offer a signed bundle, see the arms and what the box decided.

`PUT /api/flags` takes a signed bundle (docs/flags.md) and keeps it only if it verifies for this
box's [flags] keys and scope and is not older than the one in use; a refusal is 422 naming why,
and the last good bundle stays. `GET /api/flags` shows the bundle in force, each experiment's
arms with their figures and state, and the canary judge's latest decisions. Delivery through
sync from the cloud is the next step; until then a console or a script offers the bundle here.
Registered by one line in operator.routes().
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.flags_schemas import ArmOut, BundleOut, FlagDecisionOut, FlagsOut
from appliance.api.operator.operator import json_response, node_of, operator
from appliance.api.schemas import Problem
from appliance.flags.canary import FlagDecision
from appliance.flags.errors import BundleRefused
from appliance.services.flags import EdgeFlags, recent_decisions


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


def flags_out(flags: EdgeFlags, decisions: list[FlagDecision]) -> FlagsOut:
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
    decisions = await recent_decisions(node.box)
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
    decisions = await recent_decisions(node.box)
    return json_response(flags_out(node.flags, decisions))


def routes() -> list[BaseRoute]:
    """The flag routes."""
    return [
        Route("/api/flags", get_flags),
        Route("/api/flags", put_flags, methods=["PUT"]),
    ]
