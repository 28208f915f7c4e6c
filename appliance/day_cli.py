"""`stallbox close`, `restock`, `restore` and `pair --revoke`: day-2 operations from the shell.

Each runs its use case on the state dir when the node is stopped, or asks the running node over
its on-box socket (appliance/on_box.py); the answer is the same either way.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.ask_cli import add_yes, go_ahead
from appliance.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.domain.catalog import Item
    from appliance.domain.close import CloseReport
    from appliance.services.box import Box


def _state(args: argparse.Namespace) -> Path:
    from appliance.services.box import default_state_dir

    return Path(args.state) if args.state else default_state_dir()


def _config(args: argparse.Namespace) -> Config | None:
    """The config if it reads (for the socket's path); a missing one is not this command's job."""
    from appliance.config import CONFIG_NAME, load_config

    try:
        return load_config(Path(args.config) if args.config else _state(args) / CONFIG_NAME)
    except ConfigError:
        if args.config:
            raise
        return None


def cmd_close(args: argparse.Namespace) -> int:
    """Sign the daily close (or --preview the open period) and print its report."""
    import msgspec

    from appliance.domain.close import CloseReport, report_lines
    from appliance.on_box import ask_node, run_or_ask
    from appliance.services import day_close

    now = datetime.now(UTC)
    method, status = ("GET", "preview") if args.preview else ("POST", "close")
    what = "signs the daily close of the open period (`--preview` shows it first)"
    if not args.preview and not go_ahead(args, "stallbox close", what, "close"):
        return ExitCode.USAGE

    def local(box: Box) -> CloseReport:
        if args.preview:
            return box.writer.run_sync(day_close.preview_tx(box, now))
        return box.writer.run_sync(day_close.close_tx(box, now))

    def remote(socket: Path) -> CloseReport:
        return ask_node(socket, method, "/api/close", CloseReport, name=f"stallbox {status}")

    report = run_or_ask(_state(args), _config(args), "stallbox close", local, remote)
    if args.json:
        print(json.dumps(msgspec.to_builtins(report), indent=2))
    else:
        print("\n".join(report_lines(report)))
    return ExitCode.OK


def cmd_restock(args: argparse.Namespace) -> int:
    """Add units to an item's stock (or --set the count); recorded with --operator and --note."""
    from appliance.api.schemas import ItemOut
    from appliance.on_box import ask_node, run_or_ask
    from appliance.services.restock import restock_tx

    if args.qty < 0:
        print("stallbox: restock QTY must be 0 or more", file=sys.stderr)
        return ExitCode.USAGE
    mode = "set" if args.set else "add"
    now = datetime.now(UTC)

    def local(box: Box) -> tuple[str, int | None]:
        add, set_to = (None, args.qty) if args.set else (args.qty, None)

        def change(conn: sqlite3.Connection) -> Item:
            return restock_tx(conn, args.sku, add=add, set_to=set_to, operator=args.operator,
                              note=args.note, at=now)  # fmt: skip

        item = box.writer.run_sync(change)
        return item.name, item.stock

    def remote(socket: Path) -> tuple[str, int | None]:
        body = {"qty": args.qty, "mode": mode, "operator": args.operator, "note": args.note}
        item = ask_node(socket, "POST", f"/api/catalog/{args.sku}/stock", ItemOut, body,
                        "stallbox restock")  # fmt: skip
        return item.name, item.stock

    name, stock = run_or_ask(_state(args), _config(args), "stallbox restock", local, remote)
    print(f"{args.sku} ({name}): stock {'unlimited' if stock is None else stock}")
    return ExitCode.OK


def revoke_tokens(state: Path, args: argparse.Namespace) -> int:
    """Revoke every operator token: in the ledger (by the node if it runs), then pairing.json."""
    from appliance.api.season_schemas import RevokedOut
    from appliance.on_box import NoSocket, ask_node, run_or_ask
    from appliance.services.pairing import revoke_all
    from appliance.services.revocation import revoke_in_state

    def local(box: Box) -> int:
        return revoke_in_state(state, box.writer)

    def remote(socket: Path) -> int:
        return ask_node(socket, "POST", "/api/pair/revoke", RevokedOut, name="stallbox pair").epoch

    if not (state / "stallbox.db").exists():  # no ledger, so no node: the file is all there is
        return revoke_all(state)
    try:
        return run_or_ask(state, _config(args), "stallbox pair --revoke", local, remote)
    except NoSocket:  # the node records the file's new epoch in its ledger at its next check
        return revoke_all(state)


def cmd_restore(args: argparse.Namespace) -> int:
    """Rebuild a lost ledger from the cloud's copy (every signature and link checked first)."""
    if not args.from_cloud:
        print("stallbox: restore needs --from-cloud (a file backup is copied back by hand: "
              "docs/operations.md)", file=sys.stderr)  # fmt: skip
        return ExitCode.USAGE
    from sync.restore import restore_from_cloud

    if (_state(args) / "stallbox.db").exists():  # a ledger is here: put it in step instead
        from sync.catch_up import in_step

        step = in_step(_state(args))
        said = {
            "appended": f"appended the cloud's {step.count} later receipts; the next is seq "
            f"{step.local_head + 1}",
            "rewound": f"the cloud holds up to seq {step.cloud_head}: sync sends the "
            f"{step.count} after it again",
            "in step": f"in step with the cloud at seq {step.cloud_head}",
        }[step.action]
        print(f"{_state(args)}: {said}")
        return ExitCode.OK
    done = restore_from_cloud(_state(args))
    print(f"{_state(args)}: restored {done.count} receipts of device {done.device} from "
          f"{done.url}, verified up to seq {done.head.next_seq - 1}; the next receipt is seq "
          f"{done.head.next_seq}")  # fmt: skip
    return ExitCode.OK


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Register `close` and `restock`."""
    close = sub.add_parser("close", parents=[common], help="sign the daily close, print its report")
    close.add_argument(
        "--preview", action="store_true", help="report the open period, sign nothing"
    )
    close.add_argument("--json", action="store_true", help="print the report as JSON")
    add_yes(close, "sign")
    close.set_defaults(run=cmd_close)
    restock = sub.add_parser("restock", parents=[common], help="add to an item's stock (recorded)")
    restock.add_argument("sku", metavar="SKU")
    restock.add_argument("qty", metavar="QTY", type=int, help="units to add (or the count, --set)")
    restock.add_argument(
        "--set", action="store_true", help="set the stock to QTY instead of adding"
    )
    restock.add_argument("--operator", default="cli", help="who restocked (recorded)")
    restock.add_argument("--note", default="", help="why, or where from (recorded)")
    restock.set_defaults(run=cmd_restock)
    restore = sub.add_parser("restore", parents=[common], help="rebuild a lost ledger")
    restore.add_argument(
        "--from-cloud", action="store_true", help="from the cloud this box is enrolled with"
    )
    restore.set_defaults(run=cmd_restore)
