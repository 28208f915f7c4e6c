"""`stallbox rekey`: rotate the device key (docs/operations.md, "Key compromise (and rotation)").

The running node holds the key in memory and serves TLS with a certificate bound to it, so the
rekey runs only while the node is stopped: it refuses, naming the holder, when the node holds
the state dir's lock.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from appliance.ask_cli import add_yes, go_ahead
from appliance.errors import ExitCode


def cmd_rekey(args: argparse.Namespace) -> int:
    """Make a new device key and sign a rekey line with the old one naming it."""
    from appliance.services.box import default_state_dir
    from appliance.services.rekey import rekey_state

    state = Path(args.state) if args.state else default_state_dir()
    what = "replaces the device key (consoles pair again; the cloud must follow the rekey line)"
    if not go_ahead(args, "stallbox rekey", what, "rekey"):
        return ExitCode.USAGE
    done = rekey_state(state, datetime.now(UTC))
    print(f"device {done.device_id}: rekey line at seq {done.rekey_seq}, signed by key "
          f"{done.old_key}; epoch {done.epoch} is signed by key {done.new_key}")  # fmt: skip
    print(f"the old key is kept as {done.retired_file} (move it off the box once the cloud "
          "has the rekey line)")  # fmt: skip
    print(f"operator certificate re-issued: consoles will show {done.fingerprint} and ask to "
          "confirm the change")  # fmt: skip
    return ExitCode.OK


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Register `rekey`."""
    rekey = sub.add_parser(
        "rekey", parents=[common], help="rotate the device key (node stopped; signed rekey line)"
    )
    add_yes(rekey, "rekey")
    rekey.set_defaults(run=cmd_rekey)
