"""Docs generated from code stay current."""

from __future__ import annotations

from pathlib import Path

from appliance.api.openapi import markdown

REPO = Path(__file__).resolve().parents[1]


def test_api_md_matches_the_code() -> None:
    """Regenerate with: python -m appliance.api.openapi --markdown > docs/api.md"""
    assert (REPO / "docs" / "api.md").read_text(encoding="utf-8") == markdown()


def test_the_openapi_document_lists_every_api_route_and_documents_no_other() -> None:
    """Built from the route table: a new route is in it at once; a DOCS entry with no route is
    stale (its route was renamed or removed) and fails here."""
    from appliance.api.openapi import DOCS, openapi_document, operations

    served = {(method, path) for method, path, _route in operations()}
    listed = {(method, path) for path, ops in openapi_document()["paths"].items() for method in ops}
    assert served == listed
    assert set(DOCS) <= served, set(DOCS) - served
    assert ("get", "/api/drops") in served and (
        "post",
        "/relay/v1/devices/{origin}/batches",
    ) in served
    identity = openapi_document()["paths"]["/api/identity"]["get"]["parameters"]
    assert identity[0]["name"] == "challenge" and identity[0]["required"] is True
    for path in ("/api/orders", "/api/orders/{order_id}/confirm"):
        assert openapi_document()["paths"][path]["post"]["requestBody"]["required"] is False
    assert (
        openapi_document()["paths"]["/api/pair/finish"]["post"]["requestBody"]["required"] is True
    )
