"""The node's HTTP API as an OpenAPI 3.1 document, generated from its route table and types.

The paths, methods, path parameters and who needs a token come from the app's own routes
(`app.operator_routes()`, `operator.needs_token`), so a route added there is in the document at once;
DOCS adds what a route cannot say (body and answer types from msgspec, query parameters).
Served at /api/openapi.json and rendered into docs/api.md (`python -m appliance.api.openapi`),
so the schema the fuzzer (schemathesis, tests/e2e/test_openapi_conformance.py) and
integrators read is the one the code decodes with.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.routing import Route

from appliance import __version__
from appliance.api import bank_schemas as bank
from appliance.api import flags_schemas
from appliance.api import schemas as s
from appliance.api.bounds import limits_markdown
from appliance.api.operator.operator import needs_token
from appliance.api.pass_peers_schemas import PassPeersOut
from appliance.api.pass_schemas import IssuedPassOut, PassOut, PassRequest
from appliance.api.season_schemas import (
    SEASON_TYPES,
    ClockOut,
    RestockRequest,
    RevokedOut,
    SetClock,
    StockMoveOut,
)
from appliance.domain.close import CloseReport
from appliance.domain.orders import OrderState
from appliance.ledger.wire import VERSION, Batch, RelayAnswer, RelayInfo, RelayQueued

RELAY_TYPES = (Batch, RelayInfo, RelayQueued, RelayAnswer)

REF = "#/components/schemas/{name}"
DOCUMENTED = ("/api/", "/relay/", "/metrics")  # the operator plane; /healthz is the attendee port's
CHALLENGE = (  # base64url, no padding, of 16-64 bytes: lengths 4k+2 and 4k+3 and 4k that fit
    r"^(?:[A-Za-z0-9_-]{4}){5,21}[A-Za-z0-9_-]{2}$|^(?:[A-Za-z0-9_-]{4}){5,20}[A-Za-z0-9_-]{3}$"
    r"|^(?:[A-Za-z0-9_-]{4}){6,21}$"
)
LIMIT = r"^[0-9]{1,9}$"
AFTER = r"^(-1|[0-9]{1,18})$"


@dataclass(frozen=True, slots=True)
class Doc:
    """What the route table cannot say about one operation: its types and its query."""

    summary: str
    request: type | None = None
    response: Any = None  # a msgspec type, list[type], or None for an undeclared body
    status: int = 200
    media: str = "application/json"
    query: tuple[tuple[str, bool, dict[str, Any]], ...] = ()  # (name, required, schema)


def _enum(values: list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": values}


# (method, path) -> Doc. A route the app serves under DOCUMENTED but missing here is still in
# the document (its docstring as summary, an undeclared answer): new routes are never left out.
DOCS: dict[tuple[str, str], Doc] = {
    ("get", "/api/openapi.json"): Doc("This document", None, None),
    ("post", "/api/pair/start"): Doc(
        "Start a PAKE run over the pairing code", s.PairStart, s.PairStarted
    ),
    ("post", "/api/pair/finish"): Doc(
        "Finish the run: confirmations, then the token sealed", s.PairFinish, s.PairFinished
    ),
    ("post", "/api/pair/local"): Doc(
        "On the box, over the Unix socket only: a token, no code", s.PairLocal, s.PairResponse
    ),
    ("get", "/api/catalog"): Doc("The active catalogue with stock", None, list[s.ItemOut]),
    ("get", "/api/tenders"): Doc(
        "Cash and each configured rail; with ?order=, only those the offline policy accepts"
        " for that order now",
        None,
        list[str],
        query=(("order", False, {"type": "string", "maxLength": 64}),),
    ),
    ("get", "/api/identity"): Doc(
        "The node signs ?challenge= (16-64 bytes, base64url) with its device key",
        None,
        s.IdentityOut,
        query=(("challenge", True, {"type": "string", "pattern": CHALLENGE}),),
    ),
    ("get", "/api/orders"): Doc(
        "Orders in one state (?state=)",
        None,
        list[s.OrderOut],
        query=(("state", False, _enum([state.value for state in OrderState])),),
    ),
    ("post", "/api/orders"): Doc("Open an order", s.NewOrder, s.OrderOut, 201),
    ("get", "/api/orders/{order_id}"): Doc("One order", None, s.OrderOut),
    ("post", "/api/orders/{order_id}/lines"): Doc("Add an item", s.LineRequest, s.OrderOut),
    ("post", "/api/orders/{order_id}/lines/remove"): Doc(
        "Remove an item", s.RemoveLine, s.OrderOut
    ),
    ("post", "/api/orders/{order_id}/tender"): Doc(
        "Choose a tender; 409 when the offline policy refuses it (unless overridden with a"
        " reason). With ?qr=SIDE[,SIDE...] (1-4 areas, preferred first: the largest code, in"
        " modules a side with the 4-module quiet zone, each can show) a rail's answer also"
        " carries `qr`, its code built by the node: the highest error-correction level the"
        " rail's standard allows (EPC: M only) in the first area that holds it (`fit`, 0-based;"
        " -1 and the lowest level when none does), `size` modules a side, and `rows`, each"
        " row's modules as hex, dark = 1, the first module the high bit, 0-padded to 4 bits."
        " Without ?qr= no code is built and `qr` is null",
        s.TenderRequest,
        s.TenderOut,
        query=(("qr", False, {"type": "string", "pattern": r"^[0-9]{1,3}(,[0-9]{1,3}){0,3}$"}),),
    ),
    ("post", "/api/orders/{order_id}/confirm"): Doc(
        "Confirm payment (a cash order may give `cash_received`, minor units, at least the"
        " total: the attendee's receipt page shows the change due; 409 naming it otherwise)",
        s.ConfirmRequest,
        s.ConfirmOut,
    ),
    ("post", "/api/orders/{order_id}/cancel"): Doc("Cancel an unpaid order", None, s.OrderOut),
    ("post", "/api/orders/{order_id}/void"): Doc("Void a paid order", None, s.ReceiptOut),
    ("post", "/api/orders/{order_id}/ready"): Doc(
        "Mark a paid order ready for pick-up", None, s.OrderOut
    ),
    ("get", "/api/decisions"): Doc(
        "Latest policy decisions (?limit=, 1-500)",
        None,
        list[s.DecisionOut],
        query=(("limit", False, {"type": "string", "pattern": LIMIT}),),
    ),
    ("get", "/api/stats"): Doc("Sales, revenue, outbox, edge decision rate", None, s.StatsOut),
    ("get", "/api/bank"): Doc("Provider link and reports; rail sales by evidence", None, bank.BankOut),
    ("post", "/api/reconcile"): Doc(
        "Match uploaded statements and sign the evidence (as `stallbox reconcile`)",
        bank.ReconcileRequest,
        bank.ReconcileOut,
    ),
    ("get", "/api/sync"): Doc(
        "The sync daemon's state: outbox, cloud head, last checkpoint, stop reason, and `paused` "
        "({reason, until}; null while it sends) while a drop's rush holds uploads on purpose",
        None,
        s.SyncOut,
    ),
    ("get", "/api/drops"): Doc("Every drop with its units left", None, list[s.DropOut]),
    ("post", "/api/drops"): Doc(
        "Schedule a drop (its page and codes are pre-rendered)", s.NewDrop, s.DropOut, 201
    ),
    ("get", "/api/events"): Doc(
        "Server-sent events: `order` with {id, state} on every change", None, str,
        media="text/event-stream",
    ),
    ("post", "/api/display/code"): Doc(
        "A one-time code that pairs a customer display (/display) with this console",
        s.DisplayCodeRequest, s.DisplayCodeOut,
    ),
    ("post", "/api/display"): Doc(
        "Show what a console is ringing up on its customer display (no lines: idle)",
        s.DisplayCart, s.DisplayShown,
    ),
    ("post", "/api/display/order"): Doc(
        "Show an order on a console's customer display: pay (awaiting payment, with its QR) or"
        " paid (with the change); 409 naming order_id when the order is in another state",
        s.DisplayOrder, s.DisplayShown,
    ),
    ("get", "/api/printer"): Doc(
        "The receipt printer: configured, its last outcome (the console's alarm), counts",
        None, s.PrinterOut,
    ),
    ("post", "/api/orders/{order_id}/print"): Doc(
        "Queue a paid order's receipt for the printer; 409 naming printer when none is"
        " configured, naming the order when it is not paid",
        s.PrintRequest, s.PrintQueued, 202,
    ),
    ("get", "/metrics"): Doc("Prometheus metrics", None, str, media="text/plain"),
    ("get", "/api/flags"): Doc(
        "The flag bundle in force, each experiment's arms with their figures and state, and"
        " the canary judge's latest decisions (edge decisions)",
        None,
        flags_schemas.FlagsOut,
    ),
    ("put", "/api/flags"): Doc(
        "Offer a signed flag bundle (docs/flags.md); 422 naming why when it does not verify,"
        " and the last good bundle stays in force",
        flags_schemas.FlagBundleIn,
        flags_schemas.FlagsOut,
    ),
    ("get", "/api/passes/peers"): Doc(
        "The creator's other boxes in sight and every over-redemption found (docs/passes.md)",
        None,
        PassPeersOut,
    ),
    ("get", "/api/close"): Doc(
        "The report of the open period since the last close (nothing signed)", None, CloseReport
    ),
    ("post", "/api/close"): Doc(
        "Sign the daily close; the report of the period it closes", None, CloseReport, 201
    ),
    ("post", "/api/catalog/{sku}/stock"): Doc(
        "Restock an item: add units or set the count (recorded)", RestockRequest, s.ItemOut
    ),
    ("get", "/api/stock-moves"): Doc("The latest restocks", None, list[StockMoveOut]),
    ("get", "/api/clock"): Doc("The box's time, the last receipt's, clock alarms", None, ClockOut),
    ("post", "/api/clock"): Doc(
        "Set the box's time from the console device's clock (recorded)", SetClock, ClockOut
    ),
    ("post", "/api/pair/revoke"): Doc(
        "Revoke every operator token, recorded in the ledger", None, RevokedOut
    ),
    ("post", "/api/passes/read"): Doc(
        "Verify a pass read at the console (offline); 409 naming pass, the reason first, if refused",
        PassRequest, PassOut,
    ),
    ("post", "/api/orders/{order_id}/pass"): Doc(
        "Apply a pass read at the console to an open order (its allowance counted on the box); "
        "409 naming pass, the reason first, if refused",
        PassRequest, s.OrderOut,
    ),
    ("get", "/api/orders/{order_id}/passes"): Doc(
        "The passes a paid order issued (QR text, holder, product), for the console to hand"
        " over; none before it is paid",
        None, list[IssuedPassOut],
    ),
    ("get", "/relay/v1/info"): Doc(
        "Relay: who this node is, its cloud's log origin, has it an uplink", None, RelayInfo
    ),
    ("post", "/relay/v1/devices/{origin}/batches"): Doc(
        "Relay: store a neighbour's signed batch for the cloud", Batch, RelayQueued, 202
    ),
    ("get", "/relay/v1/devices/{origin}/acks"): Doc(
        "Relay: the cloud's answers to a neighbour's batches (?after=SEQ, &known=SIZE: only of"
        " batches with that known_size)",
        None,
        list[RelayAnswer],
        query=(
            ("after", False, {"type": "string", "pattern": AFTER}),
            ("known", False, {"type": "string", "pattern": r"^[0-9]{1,16}$"}),
        ),
    ),
}  # fmt: skip


def api_routes() -> list[Route]:
    """The node's routes that make up its HTTP API, straight from the app's route table."""
    from appliance.api.app import operator_routes  # the app serves this document: import late

    return [
        route
        for route in operator_routes()
        if isinstance(route, Route) and route.path.startswith(DOCUMENTED)
    ]


def _body_required(kind: type) -> bool:
    """An empty body means all defaults (operator.body), so it is required only if a field is."""
    return any(field.required for field in msgspec.structs.fields(kind))


def _operation(route: Route, method: str, path: str, by_type: dict[Any, Any]) -> dict[str, Any]:
    doc = DOCS.get((method, path)) or Doc((inspect.getdoc(route.endpoint) or path).split("\n")[0])
    answer: dict[str, Any] = {"description": "OK"}
    response = doc.response
    if response is str:
        answer["content"] = {doc.media: {"schema": {"type": "string"}}}
    elif getattr(response, "__origin__", None) is list:
        item = response.__args__[0]
        items = {"type": "string"} if item is str else by_type[item]
        answer["content"] = {doc.media: {"schema": {"type": "array", "items": items}}}
    elif response is not None:
        answer["content"] = {doc.media: {"schema": by_type[response]}}
    problem = {"$ref": REF.format(name="Problem")}
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "responses": {
            str(doc.status): answer,
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": problem}},
            },
        },
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    parameters += [
        {"name": name, "in": "query", "required": required, "schema": schema}
        for name, required, schema in doc.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if doc.request is not None:
        operation["requestBody"] = {
            "required": _body_required(doc.request),
            "content": {"application/json": {"schema": by_type[doc.request]}},
        }
    if needs_token(route.endpoint):
        operation["security"] = [{"operatorToken": []}]
    return operation


def operations() -> list[tuple[str, str, Route]]:
    """(method, OpenAPI path, route) for every operation the app serves, in route order."""
    found = []
    for route in api_routes():
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            found.append((method.lower(), path, route))
    return found


@functools.cache
def openapi_document() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document (once) from the app's routes and DOCS."""
    types: list[Any] = [
        *s.REQUESTS, *s.RESPONSES, *RELAY_TYPES, *bank.TYPES, *SEASON_TYPES, *flags_schemas.TYPES,
        PassRequest, PassOut, IssuedPassOut,
        PassPeersOut,
    ]  # fmt: skip
    schemas, components = msgspec.json.schema_components(types, ref_template=REF)
    by_type = dict(zip(types, schemas, strict=True))
    batch = components["Batch"]["properties"]
    batch["v"] = {**batch["v"], "const": VERSION}  # the relay refuses any other version
    paths: dict[str, dict[str, Any]] = {}
    for method, path, route in operations():
        paths.setdefault(path, {})[method] = _operation(route, method, path, by_type)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stallbox node operator API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"operatorToken": {"type": "http", "scheme": "bearer"}},
        },
    }


API_INTRO = """# Operator HTTP API

The node's JSON API for consoles and integrations. Generated from the code by
`python -m appliance.api.openapi --markdown > docs/api.md` (a test keeps it current); the same
document is served live at `GET /api/openapi.json`.

## Two planes: ports, TLS and pinning

One node process serves two apps that share no route:

| plane | `[node]` key, default | transport | what |
|---|---|---|---|
| attendee | `port`, 8080 | plain HTTP | menu to receipt pages, drop pages, claims, `/healthz` |
| operator | `operator_port`, 8443 | TLS 1.3 only | this API, events, `/metrics`, pairing, `/relay/v1/` |

Every operator path asked on the attendee port answers 404 (JSON), so nothing of this API ever
travels in cleartext; phones keep plain HTTP because they cannot trust a box's own certificate.
`stallbox node` prints both URLs; mDNS (`_stallbox._tcp`) advertises the attendee port as the
service port and the operator port in TXT `op`, beside the key fingerprint `fp`.

The operator plane's TLS key **is** the node's Ed25519 device key: its certificate
(`operator.crt` in the state dir, made at first start, self-signed, valid 2000-9999) carries
the same public key that signs receipts, so the fingerprint `stallbox ledger pubkey` and
`stallbox discover` show — `SHA256:` + the SHA-256 of the raw 32-byte key in 16 groups of 4 hex
digits — is exactly what the handshake proves. There is no CA: a client pins the key.

How a console connects (tui/connection.py), and how any client should:

1. Handshake once without sending anything (TLS 1.3, any certificate), take the certificate's
   Ed25519 key and compute its fingerprint.
2. Compare with the pin. A different key stops here: "THE NODE'S KEY HAS CHANGED", nothing sent.
3. Talk only through a TLS context whose one trust anchor is that certificate (hostname checks
   off: the key is the identity), so a later connection to another key fails in the handshake.
4. `GET /api/identity?challenge=…` (without the token) must answer 200 with a signature by the
   same key; a 404 or 500 there is a failed proof, never "an older node".

A script on the box itself can take `operator.crt` from the state dir as its only trust anchor
(CERT_REQUIRED, hostname check off; `appliance.tls.state_dir_context` does exactly that).

## Pairing and tokens

On the box, `stallbox pair` prints a one-time 6-digit code, valid 5 minutes. The code never
crosses the network: the console and the node run SPAKE2 over it, on the TLS operator plane
only, and the token comes back only after both sides proved they used the same code and saw the
same key, sealed under the key that run agreed. A console pairing for the first time binds the
key its handshake proved, so a TLS proxy with its own certificate fails the run and learns
nothing. Every other call then sends `Authorization: Bearer <token>`. Tokens are signed with the
node's key and last 12 hours; `stallbox pair --revoke` invalidates all of them at once (the
node re-reads the token epoch as soon as `pairing.json` changes).

### The PAKE, byte for byte

SPAKE2 as in python-spake2 0.9 (`spake2.SPAKE2_A` / `SPAKE2_B`, Ed25519 group and its M, N):
password = the code's 6 ASCII digits, idA = `stallbox console`, idB = `stallbox node ` + node id.
Each message is 33 bytes: a side byte (`A` = 0x41 for the console, `B` = 0x42 for the node) and
a 32-byte Ed25519 point; the shared key K is SHA-256(SHA-256(pw) ‖ SHA-256(idA) ‖ SHA-256(idB)
‖ X ‖ Y ‖ Z) with X, Y the two points. Below, `frame(a, b, …)` is each part prefixed with its
length as 4 bytes big-endian; all binary fields travel as unpadded base64url.

1. `POST /api/pair/start {"name": "till-1"}` → `{"session", "node_id", "pake": B}`: the node
   starts side B. From this moment the run counts as a failed attempt of the code.
2. The console starts side A with idB from `node_id` (a wrong one just fails the run), finishes
   with B, and derives, with T = SHA-256(frame("stallbox pairing v1", idA, idB, A, B)):
   `console_mac ‖ node_mac ‖ seal` = HKDF-SHA256(K, salt none, info "stallbox pairing v1" ‖ T,
   96 bytes). Its confirmation is HMAC-SHA256(console_mac, frame("console confirms", T, F)) where
   F is the fingerprint (`SHA256:…`, as `stallbox discover` shows it) of the key the console saw
   in the TLS handshake.
3. `POST /api/pair/finish {"session", "pake": A, "confirm"}`: the node checks the confirmation
   against its own fingerprint. A wrong code, a tampered message or a man in the middle with
   another certificate all fail here (401) and the node sends nothing more.
4. → `{"confirm", "sealed"}`: confirm = HMAC-SHA256(node_mac, frame("node confirms", T, F)),
   which the console checks before anything else; sealed = 12-byte nonce ‖ ChaCha20-Poly1305
   (key `seal`, associated data T) of the JSON `PairResponse` (token, node id, fingerprint,
   lifetime). A session lasts 30 s and finishes once.

A passive observer sees two random points and two MACs: nothing to test codes against offline.
An active attacker tests one code per run.

### Limits

- A code dies after 20 runs that did not confirm (Matter's cap): `/api/pair/start` then answers
  401 "this pairing code was refused after 20 failed attempts", and `stallbox pair` says so when
  it makes the next code. An attacker's chance stays at 20 / 10^6 per code.
- One source address (an IPv6 /64) may spend at most 5 of a code's failures, and start at most
  5 runs at once and one every 2 s after that (429 with `Retry-After`), so a stranger's guesses
  cannot use up the code the vendor just asked for. The node keeps at most 4096 sources.

### On the box: the Unix socket

The node also serves this API on a Unix socket (`node.operator_socket`; by default
`$RUNTIME_DIRECTORY/operator.sock` under systemd, else `operator.sock` in the state dir; mode
0600, or 0660 with `node.operator_group`). `POST /api/pair/local {"name": "tty1"}` there returns
a `PairResponse` with no code if the peer's SO_PEERCRED uid is the node's own, root, or a member
of `node.operator_group`; any other user gets 403, and on both TCP ports the route is 404. The console
takes `--node unix:/path/to/operator.sock`.

## Errors

Every error is JSON `{"error": "...", "field": "..." | null}`: 400 malformed JSON, 401 missing,
forged, expired or revoked token, 404 unknown order or item, 409 a business rule refused the
request (state, stock, tender), 422 a field is invalid (`field` names it), 429 too many
pairing runs from one address, 500 an unexpected error (logged on the node), 507 Insufficient Storage: the
box's disk is full, so the write was refused (`"error": "the box is out of storage: …"`; the
attendee pages answer 507 with a page asking to see the vendor). A refused request changes
nothing. Reads go on while the disk is full, and writes work again as soon as space is freed, with
no restart. A request answered 200 has committed, whatever happens after it; a 507 has not.

`GET /healthz` (open) is `{"ok": true, "storage": "ok" | "low", "free_bytes": N}` with 200, and
`{"ok": false, "storage": "full", …}` with **503** while the disk is full (a write failed for
lack of space, or under 256 KiB is free). "low" is below `storage.warn_free_mb`. `GET /api/stats`
carries the same `storage` and `free_bytes`; the console shows them as its storage alarm.

## Live events

`GET /api/events` (token required) is a `text/event-stream`: `event: order` with
`{"id", "state"}` on every change; `: keep-alive` comments every 15 s.
`GET /metrics` (token required) is Prometheus text; `GET /healthz` is open.

## Bodies and the relay

A POST whose body type has no required field may be sent without a body: it means all defaults
(`POST /api/orders` opens an empty order, `POST /api/orders/{id}/confirm` confirms with no
operator name). The `/relay/v1/` routes need no token: the boxes of one market are not paired
with each other, and every relayed line is signed by its origin (docs/sync-protocol.md, "Relay").

This document is built from the node's route table, so every route under `/api/`, `/relay/`,
`/metrics` and `/healthz` is listed; a test runs schemathesis, every check on, against a real
node with it (tests/e2e/test_openapi_conformance.py).

## Endpoints
"""


def _answer_name(doc: Doc | None) -> str:
    response = doc.response if doc is not None else None
    if response is None:
        return ""
    if response is str:
        return doc.media if doc is not None else ""
    if getattr(response, "__origin__", None) is list:
        return f"list of {response.__args__[0].__name__}"
    return str(response.__name__)


def markdown() -> str:
    """The API as Markdown: the endpoint table and every schema."""
    document = openapi_document()
    lines = [API_INTRO, "| method | path | what | body | answer |", "|---|---|---|---|---|"]
    for method, path, _route in operations():
        operation = document["paths"][path][method]
        request = DOCS.get((method, path), Doc("")).request
        body = request.__name__ if request is not None else ""
        status = next(iter(operation["responses"]))
        lines.append(
            f"| {method.upper()} | `{path}` | {operation['summary']} | {body} | "
            f"{f'{status} {_answer_name(DOCS.get((method, path)))}'.strip()} |"
        )
    lines += ["", limits_markdown(), "## Schemas", ""]  # Limits: appliance/api/bounds.py
    for name, schema in sorted(document["components"]["schemas"].items()):
        lines += [
            f"### {name}",
            "",
            "```json",
            json.dumps(schema, indent=2, ensure_ascii=False),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    """Print the document as JSON, or as Markdown with --markdown (docs/api.md)."""
    if "--markdown" in sys.argv[1:]:
        sys.stdout.write(markdown())
    else:
        json.dump(openapi_document(), sys.stdout, indent=2)


if __name__ == "__main__":
    main()
