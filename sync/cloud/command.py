"""The cloud's CLI commands (`stallbox cloud …`) and the box's `stallbox enrol URL TOKEN`.

Every expected failure is one line on stderr naming the field or file and an ExitCode; the
device's API token is written to STATE/cloud.json (0600) and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from appliance.errors import ExitCode
from sync.cloud import state as cloud_state
from sync.cloud.events import logfmt
from sync.cloud.store import CloudStore, DeviceRecord, EpochRow
from sync.errors import CloudError, CloudStateError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

T = TypeVar("T")


def _state(args: argparse.Namespace) -> Path:
    return Path(args.state) if args.state else cloud_state.default_state_dir()


def _dsn(args: argparse.Namespace) -> str | None:
    return str(args.postgres or os.environ.get(cloud_state.DSN_ENV) or "") or None


def _with_store(args: argparse.Namespace, work: Callable[[CloudStore], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await cloud_state.open_store(_state(args), _dsn(args))
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _fail(exc: Exception, code: ExitCode = ExitCode.STATE) -> int:
    print(f"stallbox: {exc}", file=sys.stderr)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the cloud ingest service."""
    from sync.cloud.server import run_cloud

    try:
        return run_cloud(
            _state(args), host=args.host, port=args.port, dsn=_dsn(args), origin=args.origin,
            tls=(args.tls_cert, args.tls_key) if args.tls_cert else None,
        )  # fmt: skip
    except CloudError as exc:
        return _fail(exc)
    except OSError as exc:
        return _fail(Exception(f"--host/--port: cannot listen on {args.host}:{args.port} ({exc})"))


def cmd_enrol_token(args: argparse.Namespace) -> int:
    """Print one new one-time enrol token."""
    from sync.cloud.service import new_enrol_token

    if args.ttl_hours <= 0:
        return _fail(Exception("--ttl-hours: must be positive"), ExitCode.USAGE)
    ttl = timedelta(hours=args.ttl_hours)
    try:
        token = _with_store(args, lambda s: new_enrol_token(s, datetime.now(UTC), ttl))
    except CloudError as exc:
        return _fail(exc)
    print(token)
    return ExitCode.OK


def cmd_devices(args: argparse.Namespace) -> int:
    """Print every enrolled device: head, quarantine count, last problem."""

    async def read(store: CloudStore) -> tuple[list[DeviceRecord], list[EpochRow]]:
        return await store.devices(), await store.epochs()

    try:
        records, epochs = _with_store(args, read)
    except CloudError as exc:
        return _fail(exc)
    for e in epochs:  # a rollback: the operator must see it first
        print(f"log epoch {e.epoch} ({e.origin}) began {e.started_at}: the store was rolled "
              f"back: {e.reason}; the epoch before is frozen")  # fmt: skip
    rows = [("DEVICE", "NAME", "HEAD", "QUARANTINED", "LAST CONTACT", "LAST PROBLEM")]
    for r in records:
        name = r.name + (" (revoked)" if r.revoked else "")
        rows.append((r.device, name, str(r.head_seq), str(r.quarantined),
                     r.last_contact or "never", r.last_problem or "-"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row[:5], widths, strict=True)), row[5])
    return ExitCode.OK


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke a device's API token."""
    from appliance.ask_cli import go_ahead

    what = f"stops device {args.device} syncing until it is enrolled again"
    if not go_ahead(args, "stallbox cloud revoke", what, "revoke"):
        return ExitCode.USAGE
    try:
        found = _with_store(args, lambda s: s.revoke(args.device))
    except CloudError as exc:
        return _fail(exc)
    if not found:
        return _fail(Exception(f"DEVICE: {args.device} is not enrolled"), ExitCode.FAILED)
    print(f"device {args.device}: token revoked; it must be enrolled again to sync")
    print(logfmt("device_revoked", device=args.device), file=sys.stderr)  # for the journal
    return ExitCode.OK


def cmd_enrol(args: argparse.Namespace, state: Path) -> int:
    """Enrol this box with a cloud: post its public key, keep the API token in cloud.json."""
    import httpx
    import msgspec
    from cryptography.hazmat.primitives import serialization

    from appliance.ledger.identity import key_id, load_key
    from appliance.ledger.wire import Enrolled, EnrolRequest, encode
    from appliance.services.cloud_account import (
        CloudAccount,
        account_path,
        cloud_tls,
        cloud_url_problem,
        save_account,
    )

    url = args.url.rstrip("/")
    if (problem := cloud_url_problem(url)) is not None:
        return _fail(Exception(f"URL: {problem}"), ExitCode.USAGE)
    ca_file = str(Path(args.ca_file).resolve()) if args.ca_file else None
    if ca_file is not None and not Path(ca_file).is_file():
        return _fail(Exception(f"--ca-file: {args.ca_file} is not a readable file"), ExitCode.USAGE)
    first = _first_key(state, load_key(state).public)  # the device id's key, even after a rekey
    pem = first.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    device = key_id(first)
    body = encode(EnrolRequest(args.token, pem, args.name or ""))
    try:
        answer = httpx.post(
            f"{url}/v1/enrol", content=body, headers={"Content-Type": "application/json"},
            timeout=httpx.Timeout(10.0, connect=5.0), verify=cloud_tls(ca_file),
        )  # fmt: skip
    except httpx.HTTPError as exc:
        return _fail(Exception(f"URL: cannot reach the cloud at {url} ({exc})"), ExitCode.FAILED)
    if answer.status_code != 201:
        try:
            why = str(json.loads(answer.text)["error"])
        except (ValueError, KeyError, TypeError):
            why = f"HTTP {answer.status_code}"
        return _fail(Exception(f"enrol: the cloud refused: {why}"), ExitCode.FAILED)
    try:
        enrolled = msgspec.json.decode(answer.content, type=Enrolled)
    except msgspec.DecodeError as exc:
        return _fail(Exception(f"enrol: the cloud's answer is malformed ({exc})"), ExitCode.FAILED)
    if enrolled.device != device:
        return _fail(
            Exception(f"enrol: the cloud named device {enrolled.device}, not {device}"),
            ExitCode.FAILED,
        )
    account = CloudAccount(
        url, enrolled.device, enrolled.api_token, enrolled.log.origin, enrolled.log.verifier_key,
        ca_file,
    )  # fmt: skip
    try:
        save_account(state, account)
    except OSError as exc:
        return _fail(CloudStateError(f"{account_path(state)}: cannot write ({exc.strerror})"))
    print(f"enrolled as device {enrolled.device} with {url} (log {enrolled.log.origin})")
    return ExitCode.OK


def _first_key(state: Path, current: Ed25519PublicKey) -> Ed25519PublicKey:
    """The key of epoch 0 (the start receipt's, whose id is the device id), else `current`."""
    from appliance.services.ledger_files import state_public_keys
    from appliance.store.errors import StoreError

    try:
        keys = state_public_keys(state)
    except StoreError:  # no ledger yet: the key file's key is the device's
        return current
    return keys[0] if keys else current
