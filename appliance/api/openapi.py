"""The operator API as an OpenAPI 3.1 document, generated from the msgspec types.

Served at /api/openapi.json and rendered into docs/api.md (`python -m appliance.api.openapi`),
so the schema the fuzzer and integrators read is the one the code decodes with.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import msgspec

from appliance import __version__
from appliance.api import schemas as s

REF = "#/components/schemas/{name}"

# (method, path, summary, request type, response type or list thereof, success status, auth)
ENDPOINTS: list[tuple[str, str, str, type | None, Any, int, bool]] = [
    (
        "post",
        "/api/pair",
        "Exchange a pairing code for a token",
        s.PairRequest,
        s.PairResponse,
        200,
        False,
    ),
    ("get", "/api/catalog", "The active catalogue with stock", None, list[s.ItemOut], 200, True),
    ("get", "/api/orders", "Orders in one state (?state=)", None, list[s.OrderOut], 200, True),
    ("post", "/api/orders", "Open an order", s.NewOrder, s.OrderOut, 201, True),
    ("get", "/api/orders/{order_id}", "One order", None, s.OrderOut, 200, True),
    ("post", "/api/orders/{order_id}/lines", "Add an item", s.LineRequest, s.OrderOut, 200, True),
    (
        "post",
        "/api/orders/{order_id}/lines/remove",
        "Remove an item",
        s.RemoveLine,
        s.OrderOut,
        200,
        True,
    ),
    (
        "post",
        "/api/orders/{order_id}/tender",
        "Choose a tender",
        s.TenderRequest,
        s.TenderOut,
        200,
        True,
    ),
    (
        "post",
        "/api/orders/{order_id}/confirm",
        "Confirm payment",
        s.ConfirmRequest,
        s.ConfirmOut,
        200,
        True,
    ),
    (
        "post",
        "/api/orders/{order_id}/cancel",
        "Cancel an unpaid order",
        None,
        s.OrderOut,
        200,
        True,
    ),
    ("post", "/api/orders/{order_id}/void", "Void a paid order", None, s.ReceiptOut, 200, True),
    (
        "get",
        "/api/decisions",
        "Latest policy decisions (?limit=)",
        None,
        list[s.DecisionOut],
        200,
        True,
    ),
    (
        "get",
        "/api/stats",
        "Sales, revenue, outbox, edge decision rate",
        None,
        s.StatsOut,
        200,
        True,
    ),
]


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document (once)."""
    types: list[Any] = [*s.REQUESTS, *s.RESPONSES]
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    by_type = dict(zip(types, schemas, strict=True))
    problem = {"$ref": REF.format(name="Problem")}
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, request, response, status, auth in ENDPOINTS:
        if getattr(response, "__origin__", None) is list:
            out_schema: dict[str, Any] = {"type": "array", "items": by_type[response.__args__[0]]}
        else:
            out_schema = by_type[response]
        operation: dict[str, Any] = {
            "summary": summary,
            "responses": {
                str(status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": out_schema}},
                },
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": problem}},
                },
            },
        }
        if "{order_id}" in path:
            operation["parameters"] = [
                {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        if request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": by_type[request]}},
            }
        if auth:
            operation["security"] = [{"operatorToken": []}]
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stallbox node operator API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def main() -> None:
    """Print the document as JSON (for docs/api.md)."""
    json.dump(openapi_document(), sys.stdout, indent=2)


if __name__ == "__main__":
    main()
