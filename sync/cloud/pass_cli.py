"""`stallbox cloud creator-key` and `stallbox cloud pass issue|revoke|delegate`: the issuer's CLI.

The same signing as the admin routes (sync/cloud/passes.py), straight on the state dir. Only
public things are printed: a creator's public key, a pass's text, a revocation list's size.

An entitlement on the command line is `KIND:VALUE[:…]`:
  percent_off:10[:sku,sku]      amount_off:500:BRL[:sku,sku]
  early_access:30[:drop,drop]   allowance:1:day|event[:sku,sku]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appliance.errors import ExitCode
from sync.errors import CloudError


def _fail(message: str, code: ExitCode) -> int:
    print(f"stallbox: {message}", file=sys.stderr)
    return code


def _vault(args: argparse.Namespace) -> Any:
    from sync.cloud import state as cloud_state
    from sync.cloud.command import _state
    from sync.cloud.pass_vault import PassVault

    state = _state(args)
    cloud_state.prepare(state)
    return PassVault(state)


def entitlement_spec(text: str) -> dict[str, Any]:
    """The JSON form of a `KIND:VALUE[:…]` entitlement; ValueError naming what is wrong."""
    kind, _, rest = text.partition(":")
    parts = rest.split(":")
    if not parts[0].isdigit():
        raise ValueError(f"{text!r}: KIND:VALUE with a whole-number VALUE")
    out: dict[str, Any] = {"kind": kind, "value": int(parts[0])}
    extra = parts[1:]
    if kind == "amount_off":
        if not extra:
            raise ValueError(f"{text!r}: amount_off:VALUE:CURRENCY[:skus]")
        out["currency"], extra = extra[0], extra[1:]
    if kind == "allowance":
        if not extra:
            raise ValueError(f"{text!r}: allowance:COUNT:day|event[:skus]")
        out["period"], extra = extra[0], extra[1:]
    if len(extra) > 1:
        raise ValueError(f"{text!r}: too many ':' parts")
    out["targets"] = [t for t in extra[0].split(",") if t] if extra else []
    return out


def cmd_creator_key(args: argparse.Namespace) -> int:
    """Print a creator's public key (created on first use) for the boxes' [passes] creators."""
    try:
        print(_vault(args).public_hex(args.creator))
    except CloudError as exc:
        return _fail(str(exc), ExitCode.USAGE if "creator:" in str(exc) else ExitCode.STATE)
    return ExitCode.OK


def cmd_issue(args: argparse.Namespace) -> int:
    """Sign a pass and print its text; with --out, also write its QR code as a PNG."""
    from sync.cloud.pass_vault import entitlement_of

    try:
        grants = [
            entitlement_of(entitlement_spec(spec), f"--entitlement {spec}")
            for spec in args.entitlement or []
        ]
        done = _vault(args).issue(args.creator, args.holder, args.valid_days, grants)
    except ValueError as exc:
        return _fail(f"--entitlement: {exc}", ExitCode.USAGE)
    except CloudError as exc:
        message = str(exc).replace("valid_days:", "--valid-days:").replace("holder:", "--holder:")
        message = message.replace("entitlements:", "--entitlement:")
        return _fail(message, ExitCode.USAGE)
    if args.out:
        from appliance.payments.render import RenderedCode

        try:
            Path(args.out).write_bytes(RenderedCode(done.text).png())
        except OSError as exc:
            return _fail(f"--out: cannot write {args.out} ({exc.strerror})", ExitCode.FAILED)
    print(done.text)
    print(f"pass {done.pass_id}, valid {done.valid_from} to {done.valid_until}", file=sys.stderr)
    return ExitCode.OK


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke a pass: add it to the creator's signed revocation list."""
    try:
        count, iat = _vault(args).revoke(args.creator, args.pass_id)
    except CloudError as exc:
        return _fail(str(exc).replace("pass_id:", "--pass-id:"), ExitCode.USAGE)
    print(f"{args.creator}: {count} passes revoked (list iat {iat})")
    return ExitCode.OK


def cmd_delegate(args: argparse.Namespace) -> int:
    """Sign a delegation to a box key and write it to --out (the box's passes.delegation)."""
    try:
        document = _vault(args).delegate(args.creator, args.public_key, args.label, args.valid_days)
    except CloudError as exc:
        return _fail(str(exc).replace("public_key:", "--public-key:"), ExitCode.USAGE)
    try:
        Path(args.out).write_bytes(document)
    except OSError as exc:
        return _fail(f"--out: cannot write {args.out} ({exc.strerror})", ExitCode.FAILED)
    print(f"delegation of {args.creator} to {args.public_key[:16]}… written to {args.out}")
    return ExitCode.OK


def add_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Add `creator-key` and `pass …` to `stallbox cloud`."""
    key = actions.add_parser(
        "creator-key",
        parents=[common],
        help="print a creator's public pass key (made on first use)",
    )
    key.add_argument("creator", metavar="CREATOR", help="the creator's id, e.g. creator:ana")
    key.set_defaults(run=cmd_creator_key)
    passes = actions.add_parser("pass", parents=[common], help="issue or revoke fan passes")
    what = passes.add_subparsers(dest="pass_command", metavar="ACTION", required=True)
    issue = what.add_parser("issue", parents=[common], help="sign a pass; print its text")
    issue.add_argument("--creator", required=True)
    issue.add_argument("--holder", required=True, help="the holder's label, shown at the stall")
    issue.add_argument("--valid-days", type=int, required=True)
    issue.add_argument(
        "--entitlement", action="append", required=True, metavar="KIND:VALUE[:…]",
        help="percent_off:10[:skus] amount_off:500:BRL[:skus] early_access:30[:drops] "
        "allowance:1:day|event[:skus]; repeatable",
    )  # fmt: skip
    issue.add_argument("--out", metavar="PNG", help="also write the pass's QR code here")
    issue.set_defaults(run=cmd_issue)
    revoke = what.add_parser("revoke", parents=[common], help="revoke a pass by its id")
    revoke.add_argument("--creator", required=True)
    revoke.add_argument("--pass-id", required=True)
    revoke.set_defaults(run=cmd_revoke)
    grant = what.add_parser("delegate", parents=[common], help="delegate to a box key")
    grant.add_argument("--creator", required=True)
    grant.add_argument("--public-key", required=True, help="the box's raw key, 64 hex digits")
    grant.add_argument("--label", default="box")
    grant.add_argument("--valid-days", type=int, default=365)
    grant.add_argument("--out", required=True, metavar="FILE")
    grant.set_defaults(run=cmd_delegate)
