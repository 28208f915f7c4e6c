"""`stallbox ledger verify`, `export` and `pubkey`: the receipt chain from the shell.

verify checks a state dir's chain, or a file of receipt lines against the device's public keys
(and, with --head, that it reaches a head someone else saw); export prints the lines; pubkey
prints the keys a verifier needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli_args import state_dir
from appliance.errors import ExitCode


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    """Verify a chain from the state dir or from a file of lines plus its public keys."""
    from appliance.ledger.chain import parse_head
    from appliance.ledger.errors import ChainBroken, KeyFileError, LedgerError
    from appliance.services.ledger_files import verify_file, verify_state

    if args.file and not args.pubkey:
        print("stallbox: ledger verify FILE needs --pubkey KEY", file=sys.stderr)
        return ExitCode.USAGE
    try:
        known = parse_head(args.head) if args.head else None
    except LedgerError as exc:
        print(f"stallbox: --{exc}", file=sys.stderr)
        return ExitCode.USAGE
    source = args.file or str(state_dir(args))
    try:
        if args.file:
            summary = verify_file(Path(args.file), args.pubkey, known)
        else:
            summary = verify_state(state_dir(args), known)
    except ChainBroken as exc:
        rule = f" (rule {exc.rule})" if exc.rule is not None else ""
        print(f"{source}: chain broken at {exc}{rule}", file=sys.stderr)
        return ExitCode.FAILED
    except OSError as exc:
        print(f"stallbox: {args.file}: cannot read ({exc.strerror or exc})", file=sys.stderr)
        return ExitCode.USAGE
    except KeyFileError as exc:
        if not args.file:
            raise
        print(f"stallbox: --pubkey: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    last = summary.head.next_seq - 1
    print(
        f"{source}: ok, {summary.count} receipts up to seq {last}, device {summary.device_id}, "
        f"head {summary.head.text()}"
    )
    return ExitCode.OK


def cmd_ledger_export(args: argparse.Namespace) -> int:
    """Print every receipt line after --after, one per line."""
    from appliance.services.ledger_files import export_lines

    for line in export_lines(state_dir(args), args.after):
        sys.stdout.write(line + "\n")
    return ExitCode.OK


def cmd_ledger_pubkey(args: argparse.Namespace) -> int:
    """Print the device's public keys (every epoch, oldest first) and the current fingerprint."""
    from appliance.ledger.identity import fingerprint, key_id, load_key, public_key_text
    from appliance.services.ledger_files import state_public_keys

    key = load_key(state_dir(args))
    from appliance.store.errors import StoreError

    try:
        keys = [k for k in state_public_keys(state_dir(args)) if key_id(k) != key.key_id]
    except StoreError:  # no ledger yet: the key file's key is the only one
        keys = []
    for public in [*keys, key.public]:
        print(public_key_text(public))
    print(f"key id {key.key_id}, fingerprint {fingerprint(key.public)}", file=sys.stderr)
    return ExitCode.OK


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add `stallbox ledger ACTION` to the subcommands."""
    ledger = sub.add_parser("ledger", help="verify, export and identify the receipt ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    verify = ledger_sub.add_parser("verify", parents=[common], help="verify the receipt chain")
    verify.add_argument("file", nargs="?", help="a file of receipt lines (else the state dir)")
    verify.add_argument("--pubkey", metavar="KEY", help="public key(s), text or file, for FILE")
    verify.add_argument(
        "--head", metavar="SEQ:HASH", help="a head the chain must reach (e.g. the cloud's)"
    )
    verify.set_defaults(run=cmd_ledger_verify)
    export = ledger_sub.add_parser("export", parents=[common], help="print the receipt lines")
    export.add_argument("--after", type=int, default=-1, metavar="SEQ", help="only seq > SEQ")
    export.set_defaults(run=cmd_ledger_export)
    pubkey = ledger_sub.add_parser("pubkey", parents=[common], help="print the public key")
    pubkey.set_defaults(run=cmd_ledger_pubkey)
