"""Operator commands on the box: run a use case on the state dir, or ask the running node.

`stallbox close` and `stallbox restock` must work whether or not the node runs. When it does, it
holds the state dir's lock and is the only writer, so the command asks it over its on-box Unix
socket (a token from /api/pair/local, whose peer credentials are the proof — the same way the
on-box console pairs). When it does not, the command takes the lock and runs the use case on
the state dir itself. Either way one writer, and the same use case answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from appliance.config import Config
from appliance.errors import StallboxError, StateError
from appliance.services.box import Box
from appliance.services.evidence import ledger_currency
from appliance.services.state_dir import StateInUse, check_state, lock_state
from appliance.unix_listener import default_path

T = TypeVar("T")
BASE_URL = "http://stallbox-node"  # the host is not used over a Unix socket
TIMEOUT_S = 30.0


class NoSocket(StateError):
    """The node holds the state dir but offers no on-box socket to ask it over."""


class NodeRefused(StallboxError):
    """The running node answered the request with an error."""


def socket_path(state_dir: Path, config: Config | None) -> Path | None:
    """Where the node's on-box socket is (None when the config turned it off)."""
    chosen = config.operator_socket if config is not None else ""
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    return default_path(state_dir, os.environ.get("RUNTIME_DIRECTORY"))


def ask_node(
    socket: Path, method: str, path: str, kind: type[T], body: Any = None, name: str = "cli"
) -> T:
    """One request to the running node over its Unix socket, with a fresh on-box token."""
    transport = httpx.HTTPTransport(uds=str(socket))
    with httpx.Client(transport=transport, base_url=BASE_URL, timeout=TIMEOUT_S) as http:
        try:
            paired = http.post("/api/pair/local", json={"name": name})
            _raise_for(paired, "/api/pair/local")
            token = str(paired.json()["token"])
            answer = http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.TransportError as exc:
            raise StateError(f"{socket}: the node holds the state dir but does not answer "
                             f"on its socket ({exc})") from None  # fmt: skip
        _raise_for(answer, path)
        return msgspec.convert(answer.json(), type=kind)


def _raise_for(answer: httpx.Response, path: str) -> None:
    if answer.is_success:
        return
    try:
        problem = answer.json()
        text = str(problem.get("error", answer.text))
        field = problem.get("field")
    except ValueError:
        text, field = answer.text, None
    where = f" ({field})" if field else ""
    raise NodeRefused(f"the node refused {path}: {answer.status_code} {text}{where}")


def run_or_ask(
    state_dir: Path,
    config: Config | None,
    holder: str,
    local: Callable[[Box], T],
    remote: Callable[[Path], T],
) -> T:
    """`local(box)` under the state dir's lock, or `remote(socket)` when the node holds it."""
    try:
        lock = lock_state(state_dir, holder)
    except StateInUse:
        socket = socket_path(state_dir, config)
        if socket is None or not socket.exists():
            raise NoSocket(f"{state_dir}: the node runs and has no on-box socket "
                             "(node.operator_socket); use the console instead") from None  # fmt: skip
        return remote(socket)
    with lock:
        check_state(state_dir)
        box = Box.open(state_dir, ledger_currency(state_dir))
        try:
            return local(box)
        finally:
            box.close()
