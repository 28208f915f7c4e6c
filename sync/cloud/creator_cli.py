"""`stallbox cloud creator …`: register creators, assign boxes to their events, sign flag sets.

- `creator add ID [--password-file FILE]`: the password from FILE, else one line of stdin; kept
  as a scrypt hash, never printed nor logged. Adding a known creator sets a new password.
- `creator assign ID --event EVENT --device DEVICE`: the box serves that event from now on.
- `creator flags ID --event EVENT FILE [--ttl-days N]`: sign a flagd document for the event
  (what `PUT /api/creators/{creator}/events/{event}/flags` does).
- `creator flags-key`: the `[flags]` lines a box needs to trust this cloud's bundles.
Registered by one line in appliance/cli.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import ExitCode
from sync.errors import BatchInvalid, CloudError

if TYPE_CHECKING:
    from sync.cloud.store import CloudStore


def _fail(message: str, code: ExitCode) -> int:
    print(f"stallbox: {message}", file=sys.stderr)
    return code


def _read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BatchInvalid(
                f"--password-file: cannot read {args.password_file} ({exc})"
            ) from None
    else:
        text = sys.stdin.readline()
    return text.rstrip("\r\n")


def cmd_add(args: argparse.Namespace) -> int:
    """Register a creator (or set a known one's password)."""
    from sync.cloud.command import _with_store
    from sync.cloud.creator_store import CreatorTables
    from sync.cloud.creators import check_id, hash_password

    try:
        creator = check_id(args.creator, "ID")
        hashed = hash_password(_read_password(args))
    except BatchInvalid as exc:
        return _fail(str(exc), ExitCode.USAGE)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        new = _with_store(args, lambda s: CreatorTables(s).add_creator(creator, hashed, now))
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    print(f"creator {creator}: {'added' if new else 'password replaced'}")
    return ExitCode.OK


def cmd_assign(args: argparse.Namespace) -> int:
    """Make a box serve a creator's event."""
    from sync.cloud.command import _with_store
    from sync.cloud.creator_store import CreatorTables
    from sync.cloud.creators import check_id, scope_of

    try:
        creator, event = check_id(args.creator, "ID"), check_id(args.event, "--event")
    except BatchInvalid as exc:
        return _fail(str(exc), ExitCode.USAGE)

    async def assign(store: CloudStore) -> str | None:
        tables = CreatorTables(store)
        if await tables.password_hash(creator) is None:
            return f"ID: creator {creator} is not registered (creator add)"
        if await store.device(args.device) is None:
            return f"--device: {args.device} is not enrolled"
        await tables.assign(args.device, creator, event, datetime.now(UTC).isoformat())
        return None

    try:
        problem = _with_store(args, assign)
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    if problem is not None:
        return _fail(problem, ExitCode.FAILED)
    print(f"device {args.device} serves {scope_of(creator, event)}")
    return ExitCode.OK


def cmd_flags(args: argparse.Namespace) -> int:
    """Sign a flagd document for a creator's event and keep it for its boxes."""
    from sync.cloud.command import _state, _with_store
    from sync.cloud.creator_store import CreatorTables
    from sync.cloud.creators import load_keys, put_flag_set, scope_of

    try:
        document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _fail(
            f"FILE: cannot read a JSON flagd document from {args.file} ({exc})", ExitCode.USAGE
        )
    try:
        keys = load_keys(_state(args))
        ttl = int(args.ttl_days * 86400)
        stored = _with_store(
            args,
            lambda s: put_flag_set(
                CreatorTables(s), keys, args.creator, args.event, document, ttl_s=ttl
            ),
        )
    except BatchInvalid as exc:
        return _fail(str(exc), ExitCode.FAILED)
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    until = datetime.fromtimestamp(stored.expires_at, UTC).isoformat()
    print(
        f"flags for {scope_of(stored.creator, stored.event)} signed by {keys.kid}, good until {until}"
    )
    return ExitCode.OK


def cmd_flags_key(args: argparse.Namespace) -> int:
    """Print the [flags] keys line that makes a box trust this cloud's bundles."""
    from sync.cloud.command import _state
    from sync.cloud.creators import load_keys, trust_line
    from sync.cloud.state import prepare

    try:
        prepare(_state(args))
        keys = load_keys(_state(args))
    except CloudError as exc:
        return _fail(str(exc), ExitCode.STATE)
    print("[flags]")
    print('scope = "CREATOR/EVENT"')
    print(trust_line(keys))
    return ExitCode.OK


def add_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Add `stallbox cloud creator …`."""
    creator = actions.add_parser("creator", help="creators: logins, boxes of events, flags")
    sub = creator.add_subparsers(dest="creator_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", parents=[common], help="register a creator (password on stdin)")
    add.add_argument("creator", metavar="ID")
    add.add_argument("--password-file", metavar="FILE", help="read the password from FILE")
    add.set_defaults(run=cmd_add)
    assign = sub.add_parser("assign", parents=[common], help="make a box serve a creator's event")
    assign.add_argument("creator", metavar="ID")
    assign.add_argument("--event", required=True, metavar="EVENT")
    assign.add_argument("--device", required=True, metavar="DEVICE")
    assign.set_defaults(run=cmd_assign)
    flags = sub.add_parser("flags", parents=[common], help="sign a flagd document for an event")
    flags.add_argument("creator", metavar="ID")
    flags.add_argument("--event", required=True, metavar="EVENT")
    flags.add_argument("file", metavar="FILE", help="the flagd document (JSON)")
    flags.add_argument("--ttl-days", type=float, default=7.0, help="good this long (default 7)")
    flags.set_defaults(run=cmd_flags)
    key = sub.add_parser(
        "flags-key", parents=[common], help="print the [flags] trust lines for boxes"
    )
    key.set_defaults(run=cmd_flags_key)
