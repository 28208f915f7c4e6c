"""What the `stallbox` subcommands read alike from their arguments: the state dir, the config.

Kept apart from appliance/cli.py so the modules that add subcommands (ledger_cli.py,
cloud_cli.py, ...) read them as `stallbox` itself does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config (msgspec, payments, flags, cryptography) loads where used
    from appliance.config import Config


def state_dir(args: argparse.Namespace) -> Path:
    """The --state dir, else $STALLBOX_STATE or the default."""
    from appliance.services.box import default_state_dir

    return Path(args.state) if args.state else default_state_dir()


def read_config(args: argparse.Namespace) -> Config:
    """The --config file, else the state dir's stallbox.toml, loaded and checked."""
    from appliance.config import CONFIG_NAME, load_config  # not for `stallbox console`

    path = Path(args.config) if args.config else state_dir(args) / CONFIG_NAME
    return load_config(path)
