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
        "/api/pair/start",
        "Start a PAKE run over the pairing code",
        s.PairStart,
        s.PairStarted,
        200,
        False,
    ),
    (
        "post",
        "/api/pair/finish",
        "Finish the run: confirmations, then the token sealed",
        s.PairFinish,
        s.PairFinished,
        200,
        False,
    ),
    (
        "post",
        "/api/pair/local",
        "On the box, over the Unix socket only: a token, no code",
        s.PairLocal,
        s.PairResponse,
        200,
        False,
    ),
    ("get", "/api/catalog", "The active catalogue with stock", None, list[s.ItemOut], 200, True),
    ("get", "/api/tenders", "Cash and each configured rail", None, list[str], 200, True),
    (
        "get",
        "/api/identity",
        "The node signs ?challenge= (16-64 bytes, base64url) with its device key",
        None,
        s.IdentityOut,
        200,
        False,
    ),
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
        "post",
        "/api/orders/{order_id}/ready",
        "Mark a paid order ready for pick-up",
        None,
        s.OrderOut,
        200,
        True,
    ),
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
    (
        "get",
        "/api/sync",
        "The sync daemon's state: outbox, cloud head, last checkpoint, stop reason",
        None,
        s.SyncOut,
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
            item = response.__args__[0]
            out_schema: dict[str, Any] = {
                "type": "array",
                "items": {"type": "string"} if item is str else by_type[item],
            }
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

How a console connects (tui/client.py), and how any client should:

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
pairing runs from one address, 500 an unexpected error (logged on the node). A refused request changes nothing.

## Live events

`GET /api/events` (token required) is a `text/event-stream`: `event: order` with
`{"id", "state"}` on every change; `: keep-alive` comments every 15 s.
`GET /metrics` (token required) is Prometheus text; `GET /healthz` is open.

## Endpoints
"""


def markdown() -> str:
    """The API as Markdown: the endpoint table and every schema."""
    document = openapi_document()
    lines = [API_INTRO, "| method | path | what | body | answer |", "|---|---|---|---|---|"]
    for method, path, summary, request, response, status, _auth in ENDPOINTS:
        body = request.__name__ if request is not None else ""
        listed = getattr(response, "__origin__", None) is list
        answer = f"{status} {'list of ' + response.__args__[0].__name__ if listed else response.__name__}"
        lines.append(f"| {method.upper()} | `{path}` | {summary} | {body} | {answer} |")
    lines += ["", "## Schemas", ""]
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
