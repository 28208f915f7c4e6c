"""`stallbox qr`: a payment code on the terminal or in a file; without --amount, the stall's sign.

The vendor's way to test a rail before the market opens and to print the static sign that hangs
on the stall. Bad input gets one line on stderr naming the option or config key, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.config import Config
from appliance.domain.errors import DomainError
from appliance.domain.money import Money
from appliance.errors import ConfigError, ExitCode
from appliance.payments.config import RailConfig, parse_rails
from appliance.payments.errors import PaymentError

OPTIONS = {"rail": "--rail", "amount": "--amount", "reference": "--ref"}


def add_qr_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser | None = None,
) -> None:
    """Declare `stallbox qr` (with the shared --state/--config options when `common` is given)."""
    qr = subparsers.add_parser(
        "qr",
        parents=[common] if common is not None else [],
        help="print a payment QR code or write it to a file",
        description="Print a payment QR code, or write it as PNG or SVG. Without --amount the"
        " code is the stall's reusable sign: the payer types the amount.",
    )
    qr.add_argument("--rail", required=True, help="a rail from [rails.NAME] in the config")
    qr.add_argument("--amount", help="amount in major units, e.g. 18.50 (omit for a reusable sign)")
    qr.add_argument("--ref", help="payment reference, letters and digits (e.g. an order's 0Z8H)")
    out = qr.add_mutually_exclusive_group()
    out.add_argument("--png", metavar="FILE", type=Path, help="write a PNG instead of printing")
    out.add_argument("--svg", metavar="FILE", type=Path, help="write an SVG instead of printing")


def _rails(config: Config) -> Mapping[str, RailConfig]:
    """The config's rails, validated here if the config still holds the raw tables."""
    rails: Mapping[str, Any] = config.rails
    if all(isinstance(table, Mapping) for table in rails.values()):
        return parse_rails(rails, config.currency, config.path or "stallbox.toml")
    return rails


def run_qr(args: argparse.Namespace, config: Config) -> int:
    """Make the code; one clear line on stderr and a non-zero exit on bad input."""
    # Here, not at the top: the CLI declares this parser for every command, and the registry
    # brings PIL and qrcode (~0.1 s of start-up that `init`, `pair` and `sync` never use).
    from appliance.payments.registry import RailRegistry

    try:
        registry = RailRegistry.from_config(_rails(config), config.currency)
    except ConfigError as exc:
        print(f"stallbox: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    try:
        amount = None if args.amount is None else Money.parse(args.amount, config.currency)
    except DomainError as exc:
        print(f"stallbox: --amount: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        code = registry.qr(args.rail, amount, args.ref)
    except PaymentError as exc:
        option = OPTIONS.get(exc.field, "qr")
        print(f"stallbox: {option}: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        if args.png:
            args.png.write_bytes(code.png())
        elif args.svg:
            args.svg.write_text(code.svg, encoding="utf-8")
        else:
            print(code.terminal(ansi=sys.stdout.isatty()))
    except OSError as exc:
        print(f"stallbox: {args.png or args.svg}: cannot write ({exc.strerror})", file=sys.stderr)
        return ExitCode.FAILED
    print(code.payload, file=sys.stderr)
    return ExitCode.OK
