"""The console's side of pairing: the PAKE over the 6-digit code, and code-free pairing on the box.

Over the network the code never travels: `POST /api/pair/start`, then SPAKE2 as side A and a
confirmation over the fingerprint of the key the console saw (`peer_fingerprint`: the one its
TLS handshake with the operator plane proved, which a pin may have fixed beforehand), then
`POST /api/pair/finish`; the token arrives sealed and is opened only after the node's own
confirmation verifies (appliance/ledger/pake.py, docs/api.md "Pairing"). The same steps serve the
async NodeClient and blocking callers (tests, bench, the demo). Over the node's Unix socket,
`POST /api/pair/local` needs no code: the socket's peer credentials are the proof.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from appliance.api.schemas import PairFinished, PairResponse, PairStarted
from appliance.ledger.errors import LedgerError, PakeError
from tui.errors import NodeUnreachable, Refused, TransportError, Unauthorized

if TYPE_CHECKING:  # the console itself never loads httpx (tui/keepalive.py)
    import httpx

    from appliance.ledger.pake import ConsoleFinish
    from tui.keepalive import Wire

UNIX_PREFIX = "unix:"
UNIX_BASE_URL = "http://stallbox-node"  # the host part is not used over a Unix socket


def unix_path(node: str) -> str | None:
    """The socket path of a `unix:/path/to/operator.sock` node address, else None."""
    return node[len(UNIX_PREFIX) :] if node.startswith(UNIX_PREFIX) else None


class Answered(Protocol):
    """An answer read whole: httpx's, or tui/keepalive.py's."""

    @property
    def status_code(self) -> int:
        """The HTTP status."""

    @property
    def content(self) -> bytes:
        """The body."""


def _decode(kind: type[Any], answer: Answered, path: str) -> Any:
    if answer.status_code >= 400:
        try:
            error = msgspec.json.decode(answer.content)["error"]
        except (msgspec.DecodeError, KeyError, TypeError):
            error = f"HTTP {answer.status_code}"
        raise (Unauthorized if answer.status_code == 401 else Refused)(answer.status_code, error)
    try:
        return msgspec.json.decode(answer.content, type=kind)
    except msgspec.DecodeError as exc:
        raise Refused(answer.status_code, f"unexpected answer from {path}: {exc}") from None


def _answer(
    code: str, started: PairStarted, peer_fingerprint: str
) -> tuple[dict[str, str], ConsoleFinish]:
    from appliance.ledger.pake import console_finish  # pairing is rare: not at every start
    from appliance.ledger.receipt import b64, unb64

    try:
        step = console_finish(
            code, started.node_id, unb64(started.pake, 33, "pake"), peer_fingerprint
        )
    except LedgerError as exc:
        raise Refused(
            200, f"pairing failed: the node's PAKE message is not valid ({exc})"
        ) from None
    body = {"session": started.session, "pake": b64(step.message), "confirm": b64(step.confirm)}
    return body, step


def _open(step: ConsoleFinish, finished: PairFinished, peer_fingerprint: str) -> PairResponse:
    from appliance.ledger.pake import console_open
    from appliance.ledger.receipt import unb64

    try:
        confirm = unb64(finished.confirm, 32, "confirm")
        opened = console_open(step.keys, peer_fingerprint, confirm, _any_b64(finished.sealed))
        sealed = msgspec.json.decode(opened, type=PairResponse)
    except PakeError:
        raise Refused(
            200, "pairing failed: the node did not prove it ran the PAKE with this code and key"
        ) from None
    except (LedgerError, msgspec.DecodeError) as exc:
        raise Refused(200, f"pairing failed: malformed answer ({exc})") from None
    if sealed.fingerprint != peer_fingerprint:
        raise Refused(200, "pairing failed: the node names another key than the one it proved")
    return sealed


def _any_b64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Refused(200, "pairing failed: the sealed answer is not base64url") from None


async def pair_async(http: Wire, code: str, name: str, peer_fingerprint: str) -> PairResponse:
    """Run the PAKE with the node behind `http`; return its answer once both sides confirmed."""
    try:
        answer = await http.post("/api/pair/start", msgspec.json.encode({"name": name}))
        started: PairStarted = _decode(PairStarted, answer, "/api/pair/start")
        body, step = _answer(code, started, peer_fingerprint)
        answer = await http.post("/api/pair/finish", msgspec.json.encode(body))
    except TransportError as exc:
        raise NodeUnreachable(f"node at {http.base_url} did not answer ({exc!r})") from exc
    return _open(step, _decode(PairFinished, answer, "/api/pair/finish"), peer_fingerprint)


def pair_blocking(http: httpx.Client, code: str, name: str, peer_fingerprint: str) -> PairResponse:
    """The same run for blocking callers (tests, bench, the demo)."""
    import httpx

    try:
        answer = http.post("/api/pair/start", content=msgspec.json.encode({"name": name}))
        started: PairStarted = _decode(PairStarted, answer, "/api/pair/start")
        body, step = _answer(code, started, peer_fingerprint)
        answer = http.post("/api/pair/finish", content=msgspec.json.encode(body))
    except httpx.TransportError as exc:
        raise NodeUnreachable(f"node at {http.base_url} did not answer ({exc!r})") from exc
    return _open(step, _decode(PairFinished, answer, "/api/pair/finish"), peer_fingerprint)


async def pair_local(http: Wire, name: str) -> PairResponse:
    """A token over the node's Unix socket, with no code (the node checks who we are)."""
    try:
        answer = await http.post("/api/pair/local", msgspec.json.encode({"name": name}))
    except TransportError as exc:
        raise NodeUnreachable(f"node socket did not answer ({exc!r})") from exc
    result: PairResponse = _decode(PairResponse, answer, "/api/pair/local")
    return result
