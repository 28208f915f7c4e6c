"""The operator API's money truth: the bank watch's state, and statements while the node runs.

`GET /api/bank`: the payment provider's link (idle, ok, unreachable, refused, off), what it
confirmed, the credits it reported that confirmed nothing, and per rail the standing QR sales
that are bank-confirmed, unverified or unmatched (the console's alarm and Numbers read it).

`POST /api/reconcile`: statement files uploaded (base64 in JSON, api/bounds.py's RECONCILE_BODY_BYTES at most)
and matched by the same code as `stallbox reconcile` (services/evidence.py), the evidence lines
appended through the node's one writer, so a vendor need not stop the node to reconcile.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.bank_schemas import (
    RECONCILE_STATEMENT_BYTES,
    BankOut,
    BankProblem,
    EvidenceWritten,
    RailEvidence,
    ReconcileOut,
    ReconcileRequest,
)
from appliance.api.operator.operator import body, json_response, node_of, operator
from appliance.services.bank_watch import problem_out
from appliance.services.evidence import evidence_by_rail, record_live, report_written
from appliance.services.reconcile import report
from appliance.statements.csvmap import parse_column_map
from appliance.statements.errors import ColumnMapError, StatementError

MAX_STATEMENT_BYTES = RECONCILE_STATEMENT_BYTES  # one upload's decoded statements, together


@operator
async def bank(request: Request) -> Response:
    """The payment provider's link and reports, and each rail's sales by evidence state."""
    node = node_of(request)
    rails = await evidence_by_rail(node.box)
    watch = node.bank
    status = watch.status if watch is not None else None
    return json_response(
        BankOut(
            provider=watch.provider.name if watch is not None else None,
            rail=watch.settings.rail if watch is not None else None,
            link=status.state if status is not None else "off",
            last_ok=status.last_ok.isoformat() if status and status.last_ok else None,
            last_error=status.last_error if status is not None else "",
            confirmed=status.confirmed if status is not None else 0,
            problems=[BankProblem(**problem_out(p)) for p in (status.problems if status else ())],
            rails={rail: RailEvidence(**sums) for rail, sums in rails.items()},
        )
    )


@operator
async def reconcile(request: Request) -> Response:
    """Match uploaded statements to the sales and sign the evidence (`stallbox reconcile`)."""
    node = node_of(request)
    asked = await body(request, ReconcileRequest)
    if sum(len(s.content) for s in asked.statements) > MAX_STATEMENT_BYTES:
        raise msgspec.ValidationError(
            f"more than {MAX_STATEMENT_BYTES} bytes together - at `$.statements`"
        )
    statements = [(s.name, s.content) for s in asked.statements]
    try:
        column_map = None
        if asked.column_map is not None:
            column_map = parse_column_map(asked.column_map, "column_map")
        recorded = await record_live(node.box, statements, column_map, datetime.now(UTC))
    except ColumnMapError as exc:
        raise msgspec.ValidationError(f"{exc} - at `$.column_map`") from None
    except StatementError as exc:  # names the file and where in it
        raise msgspec.ValidationError(f"{exc} - at `$.statements`") from None
    outcome = recorded.outcome
    for entry in recorded.written:
        node.events.publish("order", {"id": entry.order_id, "state": "paid",
                                      "evidence": entry.state})  # fmt: skip
    if recorded.written:
        await node.refresh_outbox()
    answer: dict[str, Any] = {
        "matched": len(outcome.matched),
        "unmatched_sales": [s.id for s in outcome.unmatched_sales],
        "unmatched_credits": len(outcome.unmatched_credits),
        "ambiguous": len(outcome.ambiguous),
        "wrong_amount": len(outcome.wrong_amount),
        "written": [EvidenceWritten(e.order_id, e.sale_seq, e.state) for e in recorded.written],
        "report": report(outcome) + report_written(recorded),
    }
    return json_response(ReconcileOut(**answer))


def routes() -> list[BaseRoute]:
    """The money-truth routes (registered by appliance/api/operator/operator.py)."""
    return [
        Route("/api/bank", bank),
        Route("/api/reconcile", reconcile, methods=["POST"]),
    ]
