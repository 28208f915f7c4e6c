"""`stallbox cloud ACTION` and `stallbox enrol`: the reference cloud, and a box joining one.

The cloud's code (sync/cloud/) is imported only when one of its actions runs, so `stallbox
--help` and the node's start do not load it; its admin, creator and pass actions add their own
parsers (sync/cloud/admin.py, creator_cli.py, pass_cli.py).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from appliance.ask_cli import add_yes
from appliance.cli_args import state_dir


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

    return enrol(args, state_dir(args))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `stallbox cloud ACTION` (the reference cloud) and `stallbox enrol` (a box joins one)."""
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
