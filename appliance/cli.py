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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance import __version__
from appliance.ask_cli import add_yes
from appliance.cli_args import read_config, state_dir
from appliance.cloud_cli import add_parsers as add_cloud_parsers
from appliance.day_cli import add_parsers as add_day_parsers
from appliance.errors import ExitCode, StallboxError
from appliance.ledger_cli import add_parser as add_ledger_parser
from appliance.passes_cli import add_parser as add_passes_parser
from appliance.rekey_cli import add_parser as add_rekey_parser

if TYPE_CHECKING:  # the config (msgspec, payments, flags, cryptography) loads where used
    pass


def cmd_init(args: argparse.Namespace) -> int:
    """Create the state dir: device key (0600), ledger with its start receipt, sample config."""
    from appliance.services.box import init_state

    state = state_dir(args)
    report = init_state(state, args.currency, datetime.now(UTC))
    done = [
        "created device key" if report.created_key else "kept device key",
        "created ledger" if report.created_db else "kept ledger",
        "wrote sample config" if report.wrote_config else "kept config",
    ]
    print(f"{state}: {', '.join(done)}; device {report.device_id}")
    return ExitCode.OK


def cmd_node(args: argparse.Namespace) -> int:
    """Run the checkout node."""
    from appliance.api.server import run_node
    from appliance.config import require_for_node
    from appliance.services.state_dir import check_state, lock_state

    config = require_for_node(read_config(args))
    if args.interfaces:
        config = dataclasses.replace(config, discovery=args.interfaces)
    from appliance.unix_listener import MAX_PATH_BYTES, default_path

    host = args.host or config.host
    port = config.port if args.port is None else args.port
    state = state_dir(args)
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

    state = state_dir(args)
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
        sales_from = Path(args.sales_from) if args.sales_from else state_dir(args)
        outcome = dry_run(sales_from, files, column_map)
        print("\n".join(report(outcome)))
    else:
        if args.sales_from:
            print("stallbox: --sales-from only goes with --dry-run", file=sys.stderr)
            return ExitCode.USAGE
        from datetime import UTC, datetime

        from appliance.services.evidence import record_in_state, report_written

        recorded = record_in_state(state_dir(args), files, column_map, datetime.now(UTC))
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

    return run_qr(args, read_config(args))


def cmd_sync(args: argparse.Namespace) -> int:
    """Run the store-and-forward daemon (or drain once, or resume a stopped stream)."""
    from sync.command import resume, run_sync

    if args.resume:
        return resume(state_dir(args))
    return run_sync(state_dir(args), read_config(args), once=args.once)


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

    add_ledger_parser(sub, common)  # ledger verify, export, pubkey

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

    add_print_test_parser(sub, common, read_config)

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

    add_cloud_parsers(sub)  # cloud ACTION, enrol
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
