"""The cloud operator's commands beyond serving: `stallbox cloud verify`, quarantine, devices.

Registered by one line in appliance/cli.py (`add_parsers`); each command opens the state dir's
store the way `serve` does (the backend remembered in the state dir), prints what it found and
returns an ExitCode. Nothing here prints a token or a key.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from appliance.ask_cli import add_yes, go_ahead
from appliance.errors import ExitCode

if TYPE_CHECKING:
    from sync.cloud.store import CloudStore, QuarantineRow

T = TypeVar("T")


def _run(args: argparse.Namespace, work: Callable[[CloudStore], Awaitable[T]]) -> T:
    from sync.cloud.command import _with_store

    return _with_store(args, work)


def _fail(message: str, code: ExitCode) -> int:
    print(f"stallbox: {message}", file=sys.stderr)
    return code


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-check the store end to end: signatures, links, the Merkle tree, given checkpoints."""
    from sync.checkpoint import NoteVerifier
    from sync.cloud import state as cloud_state
    from sync.cloud.audit import audit
    from sync.cloud.command import _state
    from sync.errors import CloudError

    state = _state(args)
    notes = []
    for name in args.checkpoint or []:
        try:
            notes.append(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            return _fail(f"--checkpoint: cannot read {name} ({exc})", ExitCode.USAGE)
    try:
        signer = cloud_state.log_key_if_any(state)
        origins = cloud_state.known_origins(state)
        verifiers = (
            [NoteVerifier.from_public_key(o, signer.public_key()) for o in origins]
            if signer is not None
            else []
        )
        report = _run(args, lambda store: audit(store, verifiers, notes))
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    print(
        f"{report.devices} devices, {report.receipts} receipts: every signature, link and items "
        "hash re-checked"
        if not report.problems
        else f"{report.devices} devices checked"
    )
    print(f"log: {report.size} leaves, root {report.root.hex()}; {report.checkpoints} checkpoints")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    if report.problems:
        print(f"{len(report.problems)} problem(s): see docs/operations.md, 'Cloud: restore'")
        return ExitCode.FAILED
    print("store verified")
    return ExitCode.OK


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List the quarantined batches of one device, or of every device."""

    async def read(store: CloudStore) -> list[QuarantineRow]:
        names = [args.device] if args.device else [r.device for r in await store.devices()]
        return [row for name in names for row in await store.quarantine_rows(name)]

    from sync.errors import CloudError

    try:
        rows = _run(args, read)
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    for q in rows:
        seq = "-" if q.seq is None else str(q.seq)
        print(f"{q.device}  {q.reason}  seq {seq}  x{q.times}  {q.first_at} .. {q.last_at}  "
              f"{q.message}")  # fmt: skip
    print(f"{len(rows)} quarantined batch(es)")
    return ExitCode.OK


def cmd_clear_quarantine(args: argparse.Namespace) -> int:
    """Delete a device's quarantine rows once the operator has dealt with them."""
    from sync.cloud.events import logfmt
    from sync.errors import CloudError

    what = f"deletes the batches device {args.device} had refused (the evidence of the conflict)"
    if not go_ahead(args, "stallbox cloud clear-quarantine", what, "clear"):
        return ExitCode.USAGE

    try:
        cleared = _run(args, lambda store: store.clear_quarantine(args.device))
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    print(f"device {args.device}: {cleared} quarantine row(s) cleared")
    print(logfmt("quarantine_cleared", device=args.device, rows=cleared), file=sys.stderr)
    return ExitCode.OK


def cmd_delete_device(args: argparse.Namespace) -> int:
    """Delete an enrolled device the log holds nothing of (a mistaken or abandoned enrolment)."""
    from sync.cloud.events import logfmt
    from sync.errors import CloudError

    what = f"deletes device {args.device}'s enrolment, if it never sent a receipt"
    if not go_ahead(args, "stallbox cloud delete-device", what, "delete"):
        return ExitCode.USAGE

    async def delete(store: CloudStore) -> tuple[bool | None, int]:
        from sync.cloud.creator_store import CreatorTables

        done = await store.delete_device(args.device)
        # its event assignment and decisions (a rerun cleans what a failed one left)
        forgotten = (
            await CreatorTables(store).forget_device(args.device) if done is not False else 0
        )
        return done, forgotten

    try:
        done, forgotten = _run(args, delete)
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    if done is None:
        return _fail(f"DEVICE: {args.device} is not enrolled", ExitCode.FAILED)
    if not done:
        return _fail(
            f"DEVICE: {args.device} has receipts in the log, which is never rewritten; "
            "revoke it instead (`stallbox cloud revoke`)",
            ExitCode.FAILED,
        )
    print(
        f"device {args.device}: deleted (it had sent no receipt), with {forgotten} row(s) of "
        "its event assignment and edge decisions"
    )
    print(logfmt("device_deleted", device=args.device, creator_rows=forgotten), file=sys.stderr)
    return ExitCode.OK


def add_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Add the admin actions to `stallbox cloud`."""
    verify = actions.add_parser(
        "verify", parents=[common], help="re-check the whole store (e.g. after a restore)"
    )
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        action="append",
        help="a signed checkpoint (e.g. a box's) the log must still hold; repeatable",
    )
    verify.set_defaults(run=cmd_verify)
    quarantine = actions.add_parser(
        "quarantine", parents=[common], help="list refused batches (all devices, or one)"
    )
    quarantine.add_argument("device", metavar="DEVICE", nargs="?")
    quarantine.set_defaults(run=cmd_quarantine)
    clear = actions.add_parser(
        "clear-quarantine", parents=[common], help="delete a device's quarantine rows"
    )
    clear.add_argument("device", metavar="DEVICE")
    add_yes(clear, "clear")
    clear.set_defaults(run=cmd_clear_quarantine)
    delete = actions.add_parser(
        "delete-device", parents=[common], help="delete a device that never sent a receipt"
    )
    delete.add_argument("device", metavar="DEVICE")
    add_yes(delete, "delete")
    delete.set_defaults(run=cmd_delete_device)
