"""The `stallbox` command: one entry point, one subcommand per process or task.

Every subcommand returns an ExitCode; every expected failure is one line on stderr naming the
file and field, never a traceback. Subcommands import their packages lazily so `stallbox --help`
stays fast on a Pi.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance import __version__
from appliance.ask_cli import add_yes
from appliance.day_cli import add_parsers as add_day_parsers
from appliance.errors import ExitCode, StallboxError
from appliance.passes_cli import add_parser as add_passes_parser
from appliance.rekey_cli import add_parser as add_rekey_parser

if TYPE_CHECKING:  # the config (msgspec, payments, flags, cryptography) loads where used
    from appliance.config import Config


def _state_dir(args: argparse.Namespace) -> Path:
    from appliance.services.box import default_state_dir

    return Path(args.state) if args.state else default_state_dir()


def _config(args: argparse.Namespace) -> Config:
    from appliance.config import CONFIG_NAME, load_config  # not for `stallbox console`

    path = Path(args.config) if args.config else _state_dir(args) / CONFIG_NAME
    return load_config(path)


def cmd_init(args: argparse.Namespace) -> int:
    """Create the state dir: device key (0600), ledger with its start receipt, sample config."""
    from appliance.services.box import init_state

    state = _state_dir(args)
    report = init_state(state, args.currency, datetime.now(UTC))
    done = [
        "created device key" if report.created_key else "kept device key",
        "created ledger" if report.created_db else "kept ledger",
        "wrote sample config" if report.wrote_config else "kept config",
    ]
    print(f"{state}: {', '.join(done)}; device {report.device_id}")
    return ExitCode.OK


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
    source = args.file or str(_state_dir(args))
    try:
        if args.file:
            summary = verify_file(Path(args.file), args.pubkey, known)
        else:
            summary = verify_state(_state_dir(args), known)
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

    for line in export_lines(_state_dir(args), args.after):
        sys.stdout.write(line + "\n")
    return ExitCode.OK


def cmd_ledger_pubkey(args: argparse.Namespace) -> int:
    """Print the device's public keys (every epoch, oldest first) and the current fingerprint."""
    from appliance.ledger.identity import fingerprint, key_id, load_key, public_key_text
    from appliance.services.ledger_files import state_public_keys

    key = load_key(_state_dir(args))
    from appliance.store.errors import StoreError

    try:
        keys = [k for k in state_public_keys(_state_dir(args)) if key_id(k) != key.key_id]
    except StoreError:  # no ledger yet: the key file's key is the only one
        keys = []
    for public in [*keys, key.public]:
        print(public_key_text(public))
    print(f"key id {key.key_id}, fingerprint {fingerprint(key.public)}", file=sys.stderr)
    return ExitCode.OK


def cmd_node(args: argparse.Namespace) -> int:
    """Run the checkout node."""
    from appliance.api.server import run_node
    from appliance.config import require_for_node
    from appliance.services.state_dir import check_state, lock_state

    config = require_for_node(_config(args))
    if args.interfaces:
        config = dataclasses.replace(config, discovery=args.interfaces)
    from appliance.unix_listener import MAX_PATH_BYTES, default_path

    host = args.host or config.host
    port = config.port if args.port is None else args.port
    state = _state_dir(args)
    if config.operator_socket == "off":
        unix = None
    elif config.operator_socket:
        unix = Path(config.operator_socket)
    else:
        unix = default_path(state, os.environ.get("RUNTIME_DIRECTORY"))
        if len(os.fsencode(unix)) > MAX_PATH_BYTES:  # a default must not stop the node
            print(
                f"stallbox: {unix}: too long for a Unix socket; no on-box socket", file=sys.stderr
            )
            unix = None
    operator_port = config.operator_port if args.operator_port is None else args.operator_port
    with lock_state(state, "stallbox node"):  # held while the node runs; see docs/operations.md
        check_state(state, config.currency)  # a garbled key, a bad or foreign DB: refused
        return run_node(
            config, state, host=host, port=port, operator_port=operator_port,
            advertise=not args.no_mdns, operator_socket=unix,
        )  # fmt: skip


def cmd_pair(args: argparse.Namespace) -> int:
    """Print a one-time pairing code, or revoke every token."""
    from appliance.services.pairing import (
        CODE_FAILURES,
        CODE_TTL_S,
        last_code,
        new_code,
    )

    state = _state_dir(args)
    if not (state / "device.key").exists():
        print(f"stallbox: {state}: not initialised (run `stallbox init`)", file=sys.stderr)
        return ExitCode.STATE
    if args.revoke:
        from appliance.ask_cli import go_ahead
        from appliance.day_cli import revoke_tokens

        what = "signs every console out (each must pair again with a new code)"
        if not go_ahead(args, "stallbox pair --revoke", what, "revoke"):
            return ExitCode.USAGE
        epoch = revoke_tokens(state, args)
        print(f"every operator token is revoked (token epoch {epoch}); consoles must pair again")
        return ExitCode.OK
    previous = last_code(state)
    code = new_code(state)
    print(
        f"pairing code: {code}  (valid {CODE_TTL_S // 60} minutes, once; "
        f"refused after {CODE_FAILURES} failed attempts)"
    )
    if previous is not None:
        print(previous.describe())
    return ExitCode.OK


def cmd_reconcile(args: argparse.Namespace) -> int:
    """Match statement files to the box's paid rail sales and sign the evidence (or --dry-run)."""
    from appliance.services.reconcile import dry_run, report
    from appliance.statements.csvmap import load_column_map

    column_map = load_column_map(Path(args.map)) if args.map else None
    files = [Path(f) for f in args.files]
    if args.dry_run:
        sales_from = Path(args.sales_from) if args.sales_from else _state_dir(args)
        outcome = dry_run(sales_from, files, column_map)
        print("\n".join(report(outcome)))
    else:
        if args.sales_from:
            print("stallbox: --sales-from only goes with --dry-run", file=sys.stderr)
            return ExitCode.USAGE
        from datetime import UTC, datetime

        from appliance.services.evidence import record_in_state, report_written

        recorded = record_in_state(_state_dir(args), files, column_map, datetime.now(UTC))
        outcome = recorded.outcome
        print("\n".join(report(outcome) + report_written(recorded)))
    open_items = outcome.unmatched_sales or outcome.ambiguous or outcome.wrong_amount
    return ExitCode.FAILED if open_items or outcome.conflicts else ExitCode.OK


def cmd_discover(args: argparse.Namespace) -> int:
    """List the nodes that answer over mDNS."""
    import asyncio

    from appliance.discovery import browse

    found = asyncio.run(browse(args.interfaces, args.timeout))
    if not found:
        print(f"no stallbox node answered within {args.timeout:g} s", file=sys.stderr)
        return ExitCode.FAILED
    for node in found:
        uplink = "uplink" if node.uplink else "no uplink"
        print(f"{node.name}\t{node.operator_url or node.url}\t{node.fingerprint}\t{uplink}")
    return ExitCode.OK


def cmd_qr(args: argparse.Namespace) -> int:
    """Print or write a payment QR code."""
    from appliance.payments.command import run_qr

    return run_qr(args, _config(args))


def cmd_sync(args: argparse.Namespace) -> int:
    """Run the store-and-forward daemon (or drain once, or resume a stopped stream)."""
    from sync.command import resume, run_sync

    if args.resume:
        return resume(_state_dir(args))
    return run_sync(_state_dir(args), _config(args), once=args.once)


def cmd_console(args: argparse.Namespace) -> int:
    """Run the Textual operator console."""
    from tui.startup_gc import pause

    pause()  # until the first catalogue is drawn: tui/startup_gc.py
    from tui.app import run_console

    return run_console(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the whole box on this machine (or the scripted in-process session with --script)."""
    state = Path(args.state) if args.state else None
    if args.script:
        from appliance.demo import run_demo

        return run_demo(state)
    if args.duration <= 0:
        print("stallbox: demo --duration must be a positive number of seconds", file=sys.stderr)
        return ExitCode.USAGE
    from appliance.demo_stack import run_stack_demo

    return run_stack_demo(state, headless=args.headless, duration=args.duration, lan=args.lan)


def _cloud(name: str) -> Callable[[argparse.Namespace], int]:
    """A `stallbox cloud ACTION` runner that imports the cloud only when it runs."""

    def run(args: argparse.Namespace) -> int:
        from sync.cloud import command

        action: Callable[[argparse.Namespace], int] = getattr(command, name)
        return action(args)

    return run


def cmd_enrol(args: argparse.Namespace) -> int:
    """Enrol this box with a cloud (`stallbox enrol URL TOKEN`)."""
    from sync.cloud.command import cmd_enrol as enrol

    return enrol(args, _state_dir(args))


def _add_cloud_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cloud_common = argparse.ArgumentParser(add_help=False)
    cloud_common.add_argument(
        "--state", metavar="DIR", help="cloud state dir (default: $STALLBOX_CLOUD_STATE)"
    )
    cloud_common.add_argument(
        "--postgres", metavar="DSN", help="PostgreSQL DSN (default: $STALLBOX_CLOUD_DSN or SQLite)"
    )
    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serving.add_argument(
        "--port", type=int, default=8470, help="TCP port, 0 for any (default 8470)"
    )
    serving.add_argument("--origin", help="the log's origin line, fixed at first start")
    serving.add_argument(
        "--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain"
    )
    serving.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    cloud = sub.add_parser(
        "cloud", parents=[cloud_common, serving], help="run or administer the cloud ingest service"
    )
    cloud.set_defaults(run=_cloud("cmd_serve"))
    actions = cloud.add_subparsers(dest="cloud_command", metavar="ACTION")
    serve = actions.add_parser("serve", parents=[cloud_common, serving], help="run it (default)")
    serve.set_defaults(run=_cloud("cmd_serve"))
    token = actions.add_parser(
        "enrol-token", parents=[cloud_common], help="print a one-time enrol token"
    )
    token.add_argument("--ttl-hours", type=float, default=24.0, help="valid this long (default 24)")
    token.set_defaults(run=_cloud("cmd_enrol_token"))
    devices = actions.add_parser("devices", parents=[cloud_common], help="list devices, problems")
    devices.set_defaults(run=_cloud("cmd_devices"))
    revoke = actions.add_parser("revoke", parents=[cloud_common], help="revoke a device's token")
    revoke.add_argument("device", metavar="DEVICE")
    add_yes(revoke, "revoke")
    revoke.set_defaults(run=_cloud("cmd_revoke"))
    from sync.cloud.admin import add_parsers as add_cloud_admin  # verify, quarantine, …

    add_cloud_admin(actions, cloud_common)
    from sync.cloud.creator_cli import add_parsers as add_creator_cli  # creators, flags (issue 20)

    add_creator_cli(actions, cloud_common)
    from sync.cloud.pass_cli import add_parsers as add_pass_cli  # creator-key, pass …

    add_pass_cli(actions, cloud_common)

    enrol = sub.add_parser("enrol", help="enrol this box with a cloud: URL and one-time TOKEN")
    enrol.add_argument("url", metavar="URL", help="the cloud's base URL")
    enrol.add_argument("token", metavar="TOKEN", help="from `stallbox cloud enrol-token`")
    enrol.add_argument("--state", metavar="DIR", help="state dir (default: $STALLBOX_STATE)")
    enrol.add_argument("--name", default="", help="a name for this box in the cloud's list")
    enrol.add_argument(
        "--ca-file", metavar="PEM", help="CA bundle of a private cloud (default: system CAs)"
    )
    enrol.set_defaults(run=cmd_enrol)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state", metavar="DIR", help="state dir (default: $STALLBOX_STATE)")
    common.add_argument(
        "--config", metavar="FILE", help="config file (default: STATE/stallbox.toml)"
    )
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")

    parser = argparse.ArgumentParser(prog="stallbox", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"stallbox {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", parents=[common], help="create the state dir, key and ledger")
    init.add_argument("--currency", default="BRL", help="ISO 4217 code of the stall (default BRL)")
    init.set_defaults(run=cmd_init)

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

    node = sub.add_parser("node", parents=[common], help="run the checkout node")
    node.add_argument("--host", help="listen address (default: node.host from config)")
    node.add_argument(
        "--port", type=int, help="attendee plane (HTTP) port, 0 for any (default: node.port)"
    )
    node.add_argument(
        "--operator-port",
        type=int,
        help="operator plane (TLS) port, 0 for any (default: node.operator_port)",
    )
    node.add_argument("--interfaces", choices=["all", "loopback"], help="mDNS interfaces")
    node.add_argument("--no-mdns", action="store_true", help="do not advertise over mDNS")
    node.set_defaults(run=cmd_node)

    pair = sub.add_parser("pair", parents=[common], help="print a one-time code to pair a console")
    pair.add_argument("--revoke", action="store_true", help="revoke every operator token instead")
    add_yes(pair, "--revoke")
    pair.set_defaults(run=cmd_pair)

    sync = sub.add_parser("sync", parents=[common], help="ship receipts to the cloud (daemon)")
    sync.add_argument("--once", action="store_true", help="send what is waiting, then exit")
    sync.add_argument("--resume", action="store_true", help="clear a stop after dealing with it")
    sync.set_defaults(run=cmd_sync)

    reconcile = sub.add_parser(
        "reconcile", parents=[common], help="match bank statements to sales (camt, OFX, MT940, CSV)"
    )
    reconcile.add_argument("files", nargs="+", metavar="FILE", help="statement files")
    reconcile.add_argument(
        "--dry-run", action="store_true", help="print the outcome, record nothing"
    )
    reconcile.add_argument("--map", metavar="MAP", help="column map (TOML/JSON) for CSV files")
    reconcile.add_argument(
        "--sales-from", metavar="DIR|DB", help="a state dir or its database (default: --state)"
    )
    reconcile.set_defaults(run=cmd_reconcile)

    discover = sub.add_parser("discover", help="list stallbox nodes on the LAN (mDNS)")
    discover.add_argument(
        "--timeout", type=float, default=3.0, metavar="S", help="listen this long"
    )
    discover.add_argument(
        "--interfaces",
        choices=["all", "loopback"],
        default="all",
        help="where to listen (default all)",
    )
    discover.set_defaults(run=cmd_discover)

    from appliance.payments.command import add_qr_parser

    add_qr_parser(sub, common)
    sub.choices["qr"].set_defaults(run=cmd_qr)
    from appliance.printing.command import add_print_test_parser

    add_print_test_parser(sub, common, _config)

    console = sub.add_parser("console", help="the operator console (Textual)")
    console.add_argument(
        "--node",
        metavar="URL",
        help="the node's operator URL, https://HOST:PORT (default: discover over mDNS)",
    )
    console.add_argument(
        "--console-state",
        metavar="FILE",
        help="token and pinned fingerprints (default ~/.config/stallbox/console.json)",
    )
    console.add_argument("--name", default="console", help="this console's name when pairing")
    console.add_argument(
        "--interfaces", choices=["all", "loopback"], default="all", help="where to discover nodes"
    )
    console.add_argument(
        "--poll", type=float, default=2.0, metavar="S", help="check the node every S seconds"
    )
    console.add_argument(
        "--pair-code", metavar="CODE", help="pair with this code from `stallbox pair` at start"
    )
    console.add_argument(
        "--vt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw for the Linux console: its font's glyphs, its colours (default: if TERM=linux)",
    )
    console.add_argument(
        "--vt-font",
        metavar="PSF",
        help="the console font the unit loads (default /opt/stallbox/share/stallbox-console.psf)",
    )
    console.set_defaults(run=cmd_console)

    _add_cloud_parsers(sub)
    add_day_parsers(sub, common)  # close, restock (issue 22)
    add_rekey_parser(sub, common)  # rekey (issue 22)
    add_passes_parser(sub)  # passes keygen, passes delegate (issue 19)

    demo = sub.add_parser("demo", help="node, sync, cloud and console on a sample stall")
    demo.add_argument("--state", metavar="DIR", help="keep the demo's state here (default: temp)")
    demo.add_argument("--headless", action="store_true", help="simulated attendees, no console")
    demo.add_argument(
        "--duration", type=float, default=30.0, metavar="S", help="headless: sell for S seconds"
    )
    demo.add_argument("--lan", action="store_true", help="serve and advertise on the real LAN")
    demo.add_argument("--script", action="store_true", help="the scripted in-process evening")
    demo.set_defaults(run=cmd_demo)
    return parser


KEY_OPTIONS = ("--pubkey", "--box-key")  # their value may be a base64url key, starting with "-"


def _join_key_values(argv: Sequence[str]) -> list[str]:
    """Turn `--pubkey -Abc…` into `--pubkey=-Abc…`, which argparse would read as an unknown option."""
    joined: list[str] = []
    words = iter(argv)
    for word in words:
        if word in KEY_OPTIONS:
            value = next(words, None)
            joined.append(word if value is None else f"{word}={value}")
        else:
            joined.append(word)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    """Run `stallbox ARGS`; return the exit code."""
    words = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_join_key_values(words))
    try:
        return int(args.run(args))
    except StallboxError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"stallbox: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
