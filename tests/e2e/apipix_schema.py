"""Validate API Pix answers against BCB's published OpenAPI document (tests/vendor/bacen-pix-api).

The document is vendored unchanged (commit and licence in its README.md). Its schemas are
OpenAPI 3.0 Schema Objects, which JSON Schema draft 4 reads (`nullable`, `example` and the
like are annotations it ignores). Two errata of the published document are applied in memory,
because as written no conforming PSP could pass them:

1. `PixConsultados.required` lists `cobs`, a property the object does not define (its list is
   `pix`; `cobs` is copied from `CobsConsultadas`). Taken out.
2. A `txid` of a received Pix is `allOf: [TxId, {pattern: "[a-zA-Z0-9]{1,35}"}]`, but `TxId`'s
   own pattern `[a-zA-Z0-9]{26,35}` still applies under allOf, so a static QR's txid (1-25
   characters) could never validate. BCB's maintainer, bacen/pix-api#269: "Deveria ser
   `[a-zA-Z0-9]{1,35}`". Replaced by that pattern.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml  # type: ignore[import-untyped]  # PyYAML, via schemathesis; no stubs pinned

DOCUMENT = Path(__file__).resolve().parents[1] / "vendor" / "bacen-pix-api" / "openapi.yaml"
TXID_ALLOF = [{"$ref": "#/components/schemas/TxId"}, {"pattern": "[a-zA-Z0-9]{1,35}"}]
TXID_FIXED = {"type": "string", "pattern": "^[a-zA-Z0-9]{1,35}$"}


@functools.cache
def document() -> dict[str, Any]:
    """The published document as loaded (never edited)."""
    with DOCUMENT.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


def _errata(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("allOf") == TXID_ALLOF:
            return dict(TXID_FIXED)
        return {key: _errata(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_errata(value) for value in node]
    return node


@functools.cache
def components() -> dict[str, Any]:
    """The document's components with the two errata applied."""
    fixed: dict[str, Any] = _errata(copy.deepcopy(document()["components"]))
    consulted = fixed["schemas"]["PixConsultados"]
    consulted["required"] = [r for r in consulted["required"] if r != "cobs"]
    return fixed


def response_schema(path: str, method: str, status: str) -> dict[str, Any]:
    """The JSON schema the document gives for one answer of one operation."""
    answer = document()["paths"][path][method]["responses"][status]
    if "$ref" in answer:
        answer = document()["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    content = answer["content"]
    media = content.get("application/json") or content["application/problem+json"]
    return {**media["schema"], "components": components()}


@functools.cache
def _validator(path: str, method: str, status: str) -> Any:
    schema = response_schema(path, method, status)
    if "$ref" in schema:  # a $ref beside other keywords is ignored in draft 4: wrap it
        schema = {"allOf": [{"$ref": schema["$ref"]}], "components": schema["components"]}
    return jsonschema_rs.Draft4Validator(schema, validate_formats=True)


def problems(path: str, method: str, status: int, body: Any) -> list[str]:
    """What is wrong with `body` as the answer `status` of `method path`; empty if it conforms."""
    key = str(status)
    if key not in document()["paths"][path][method]["responses"]:
        return [f"{method.upper()} {path}: status {status} is not in the document"]
    validator = _validator(path, method, key)
    return [f"{error.instance_path}: {error.message}" for error in validator.iter_errors(body)]
